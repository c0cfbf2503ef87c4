"""Hardware-in-the-loop: the simulator plays the vehicle's hardware on
pseudo-terminals and an unmodified ``edgepilot vehicle run`` process flies
the scenario.

- ``ptys``: ``PtyDevice``, one serial device on a pty (plug, unplug).
- ``hardware``: ``HilHardware``, the simulation behind the motor
  controller, GPS and lidar byte protocols.
- ``ground``: the ground station, built on the ``edgepilot gcs`` client
  (mission upload, commands).
- ``harness``: ``run_hil`` (spawn the vehicle process, fly, judge with the
  criteria shared with lockstep) and ``serve_forever``.
- ``cli``: ``edgepilot sitl run --hil``.
"""
from edgepilot.sim.hil.ground import HilGroundStation, MissionFlight, mavlink_client_url
from edgepilot.sim.hil.hardware import HilHardware
from edgepilot.sim.hil.harness import HilResult, default_hil_config, run_hil, serve_forever, spawn_vehicle
from edgepilot.sim.hil.ptys import PtyDevice

# the name tests and tools have used
_mavlink_client_url = mavlink_client_url


def run_hil_cli(args) -> int:
    from edgepilot.sim.hil.cli import run_hil_cli as _cli

    return _cli(args)


__all__ = ["HilGroundStation", "HilHardware", "HilResult", "MissionFlight", "PtyDevice", "default_hil_config",
           "mavlink_client_url", "run_hil", "run_hil_cli", "serve_forever", "spawn_vehicle"]
