"""Real-time SITL: the simulated vehicle on the wall clock, flown over MAVLink.

``edgepilot sitl run --realtime [SCENARIO]`` starts the vehicle disarmed in
HOLD at the scenario's start pose with an empty mission and waits for ground
stations on the usual endpoints (a TCP server on 127.0.0.1:5760 and UDP out
to 127.0.0.1:14550; ``--mavlink`` replaces them).  ``--speedup N`` runs the
vehicle's clock N times faster than the wall clock.

It is the same Simulation + VehicleCore the lockstep runner drives, scheduled
by ``onboard.RuntimeLoop``: each control tick runs the core on the
latest sensor frame and advances physics until the next tick; each loop
iteration then polls the MAVLink endpoint.

``--state-dir DIR`` makes the vehicle's state durable across restarts
(``onboard.state_store.Persistence``): mission, fence, home and parameters
are restored from DIR at start and written back as they change (a plan
before its MISSION_ACK, a parameter before its PARAM_VALUE), and the core's
events go to DIR/events.jsonl, synced at least once a second.  With signing,
DIR/signing.json keeps the newest signing timestamp so a frame signed before
a restart is refused after it (firmware_bridge.mavlink.signing).
"""
from __future__ import annotations

import logging
import signal
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint, TlogWriter
from edgepilot.firmware_bridge.mavlink.signing import load_key
from edgepilot.sim.scenario import Scenario
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.containment import contain, contained_step
from edgepilot.vehicle.params import ParamStore
from edgepilot.onboard.loop import RuntimeLoop, ScaledClock
from edgepilot.onboard.param_file import persisted_params
from edgepilot.onboard.state_store import Persistence

log = logging.getLogger(__name__)
DEFAULT_ENDPOINTS = ("tcpin:127.0.0.1:5760", "udpout:127.0.0.1:14550")


@dataclass
class RealtimeVehicle:
    """A running real-time SITL vehicle (built by :func:`build`)."""

    sim: Simulation
    core: object
    endpoint: MavlinkEndpoint
    loop: RuntimeLoop
    state: Persistence | None = None

    def run(self, duration: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        try:
            self.loop.run(until=duration, should_stop=should_stop)
        finally:
            try:
                self.endpoint.close()
            finally:
                if self.state is not None:
                    self.state.close()


def build(scenario: Scenario, *, seed: int | None = None, endpoints: list[str] | None = None,
          speedup: float = 1.0, signing_key: bytes | None = None, tlog_path: str | Path | None = None,
          tlog_max_bytes: int = 50 * 1024 * 1024, param_path: str | Path | None = None,
          state_dir: str | Path | None = None) -> RealtimeVehicle:
    """Wire a Simulation, a VehicleCore (disarmed, HOLD, no mission unless
    restored from ``state_dir``), the MAVLink endpoint and the runtime loop.
    Raises ValueError / OSError for bad endpoints or files, naming them
    (onboard.state_store.StateError, a ValueError, for damaged state)."""
    if not speedup > 0:
        raise ValueError(f"--speedup: expected a positive number, got {speedup}")
    sim = Simulation(scenario, seed)
    cfg = scenario.vehicle_config
    state = Persistence(state_dir) if state_dir else None
    if state is not None:
        params = state.params(cfg, param_path)
    else:
        params = persisted_params(cfg, param_path) if param_path else ParamStore(cfg)
    core = sim.make_core(params)
    if state is not None:
        state.restore(core)
    if signing_key is None and cfg.mavlink.signing_key_file:
        signing_key = load_key(Path(cfg.mavlink.signing_key_file).expanduser())
    tlog = TlogWriter(tlog_path, max_bytes=tlog_max_bytes) if tlog_path else None
    ep = MavlinkEndpoint(core, list(endpoints or DEFAULT_ENDPOINTS), cfg.kind,
                         sysid=int(params.get("SYSID_THISMAV")), compid=1,
                         vehicle_id=f"{cfg.name}/{scenario.name}", signing_key=signing_key, tlog=tlog,
                         signing_state_path=state.folder / "signing.json" if state is not None else None)
    if state is not None:
        state.attach(ep)
    rate = cfg.control.rate_hz
    substeps = max(1, int(round(1.0 / (rate * PHYSICS_DT))))
    sim.apply(core.last_setpoint, 0.0)
    log_fault = fault_logger(log)

    def step(t: float, dt: float) -> None:
        sim.apply(contained_step(core, t, sim.sensors(t), on_fault=log_fault), t)
        for _ in range(substeps):
            sim.step(PHYSICS_DT)

    def poll(t: float) -> None:
        try:
            ep.poll(t)
            if state is not None:
                state.tick(core, time.monotonic())
        except Exception as e:  # noqa: BLE001 - contained like a fault in the tick: HOLD, keep serving
            log_fault("MAVLink/state poll", e)
            sim.apply(contain(core, t, "MAVLink/state poll", e), t)
        ep.last_command = core.last_setpoint

    # "slip": when the machine cannot keep up, the simulated world waits
    # for the loop instead of the core seeing skipped ticks.
    loop = RuntimeLoop(step, poll, rate_hz=1.0 / (substeps * PHYSICS_DT), clock=ScaledClock(speedup),
                       fds=ep.fds, late="slip")
    return RealtimeVehicle(sim, core, ep, loop, state)


def fault_logger(logger: logging.Logger) -> Callable[[str, BaseException], None]:
    """``log_fault(where, exc)`` for a contained exception: the traceback
    for whoever reads the process log, at most once a second (wall clock)."""
    next_fault_log = [0.0]

    def log_fault(where: str, exc: BaseException) -> None:
        wall = time.monotonic()
        if wall >= next_fault_log[0]:
            next_fault_log[0] = wall + 1.0
            logger.error("contained an exception in %s", where, exc_info=exc)

    return log_fault


def stop_on_signals() -> Callable[[], bool]:
    """Install SIGTERM/SIGINT handlers that ask the loop to stop; returns
    the ``should_stop`` callable to hand to ``run``."""
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    return lambda: stop["flag"]


def run_realtime_cli(args) -> int:
    """Entry for ``edgepilot sitl run --realtime``; returns an exit code."""
    from edgepilot.sim.scenario import load_scenario
    from edgepilot.vehicle.config import ConfigError
    from edgepilot.sim.realtime_fleet import is_fleet_scenario

    if is_fleet_scenario(args.scenario):     # a `vehicles` list: every vehicle served (sim/realtime_fleet.py)
        from edgepilot.sim.realtime_fleet import run_realtime_fleet_cli

        return run_realtime_fleet_cli(args)
    try:
        sc = load_scenario(args.scenario)
        key = load_key(args.signing_key) if getattr(args, "signing_key", None) else None
        rt = build(sc, seed=args.seed, endpoints=args.mavlink or None,
                   speedup=args.speedup if args.speedup else 1.0, signing_key=key,
                   tlog_path=getattr(args, "tlog", None), param_path=getattr(args, "params", None),
                   state_dir=getattr(args, "state_dir", None))
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    should_stop = stop_on_signals()
    cfg = sc.vehicle_config
    print(f"edgepilot SITL real-time: {sc.name} ({cfg.kind}, {cfg.name}), speedup {rt.loop.clock.speedup:g}, "
          f"MAVLink sysid {rt.endpoint.sysid} on {', '.join(t.spec for t in rt.endpoint.transports)}"
          f"{', signing required' if rt.endpoint.signing_key else ''}", flush=True)
    if rt.state is not None:
        restored = ", ".join(rt.state.restored) or "nothing saved yet"
        print(f"state dir {rt.state.folder}: restored {restored}", flush=True)
        for text in rt.state.dropped:
            print(f"error: {text}", file=sys.stderr, flush=True)
    t0 = time.monotonic()
    rt.run(duration=getattr(args, "duration", None), should_stop=should_stop)
    st = rt.endpoint.stats()
    print(f"stopped after {rt.loop.t:.1f} s vehicle time ({time.monotonic() - t0:.1f} s wall); "
          f"MAVLink rx {st.get('rx_messages', 0)}, rx errors {st.get('rx_errors', 0)}, "
          f"rejected (signing) {st.get('rx_rejected_signature', 0)}, "
          f"internal errors {rt.core.internal_errors}", flush=True)
    if rt.endpoint.signing is not None:
        print("signing: " + ", ".join(f"{k} {st.get('signing_' + k, 0)}" for k in
                                      ("accepted", "replay", "before_boot", "future", "old_new_stream",
                                       "bad_signature")), flush=True)
    return 0


# ---------------------------------------------------------------- launching
def _ephemeral_range() -> tuple[int, int]:
    """The ports the OS hands out to sockets bound to port 0 or sending
    unbound (Linux's ip_local_port_range; the IANA range elsewhere)."""
    try:
        lo, hi = (int(v) for v in Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split())
        return lo, hi
    except (OSError, ValueError):
        return 49152, 65535


def free_port(kind: str = "tcp") -> int:
    """A port free on 127.0.0.1 now (for tests and tools), picked at random
    below the OS's ephemeral range: a port taken there by binding port 0
    and let go is the kind the OS next hands to any socket that sends
    unbound (a spawned vehicle's ``udpout`` links), so a caller binding it
    a moment later could find it taken.  Falls back to a port from the OS
    when no port below the range binds."""
    import random
    import socket

    typ = socket.SOCK_STREAM if kind == "tcp" else socket.SOCK_DGRAM
    top = min(_ephemeral_range()[0], 49152) - 100
    rng = random.SystemRandom()
    # 64 random tries below the range, then the OS's pick (port 0: it binds or raises)
    for port in [*(rng.randrange(20000, top) for _ in range(64 if top > 20000 else 0)), 0]:
        s = socket.socket(socket.AF_INET, typ)
        try:
            s.bind(("127.0.0.1", port))
            return s.getsockname()[1]
        except OSError:
            if port == 0:
                raise
        finally:
            s.close()


def spawn(scenario: str = "ugv_yard", mavlink: list[str] | None = None, speedup: float = 1.0,
          extra: list[str] | None = None, cwd: str | Path | None = None, ready_timeout: float = 30.0):
    """Start ``edgepilot sitl run --realtime`` as a subprocess and wait until
    it prints its ready line.  Returns the Popen (stdout is a pipe); the
    caller must terminate it."""
    import os
    import subprocess

    # the child imports the same installed edgepilot as this process (a
    # wheel, or an editable checkout); nothing here depends on a repo path
    cmd = [sys.executable, "-m", "edgepilot", "sitl", "run", "--realtime", scenario, "--speedup", str(speedup)]
    for e in mavlink or []:
        cmd += ["--mavlink", e]
    cmd += list(extra or [])
    env = dict(os.environ)
    env["PYTHONUNBUFFERED"] = "1"
    p = subprocess.Popen(cmd, cwd=None if cwd is None else str(cwd), env=env, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    deadline = time.monotonic() + ready_timeout
    import select

    lines = []
    while time.monotonic() < deadline:
        r, _, _ = select.select([p.stdout], [], [], 0.2)
        if r:
            line = p.stdout.readline()
            if not line:
                break
            lines.append(line)
            if line.startswith("edgepilot SITL real-time:"):
                return p
        elif p.poll() is not None:
            break
    p.kill()
    rest = p.stdout.read() if p.stdout else ""
    p.wait(5)
    raise RuntimeError(f"real-time SITL did not start within {ready_timeout:g} s: {' '.join(cmd)}\n"
                       + "".join(lines) + (rest or ""))


def stop(p, timeout: float = 5.0) -> str:
    """Terminate a process from :func:`spawn` (SIGTERM, then SIGKILL); returns its output."""
    import subprocess

    if p.poll() is None:
        p.terminate()
        try:
            out, _ = p.communicate(timeout=timeout)
            return out or ""
        except subprocess.TimeoutExpired:
            p.kill()
    out, _ = p.communicate(timeout=timeout)
    return out or ""
