"""Real-time SITL of a fleet: several simulated vehicles on the wall clock,
each served over MAVLink the way ArduPilot SITL instances are.

``edgepilot sitl run --realtime FLEET_SCENARIO`` (dispatched here from
``sim/realtime.py`` when the scenario has a ``vehicles`` list) runs one
(Simulation, VehicleCore, MavlinkEndpoint) set per vehicle in one process,
all scheduled by one ``onboard.RuntimeLoop``:

- every vehicle has its own system id (``SYSID_THISMAV`` set from the
  entry's ``sysid``);
- instance ``i`` (the entry's index in ``vehicles``) gets its own ports as
  ArduPilot's ``-I i`` does: every *listening* endpoint (``tcpin``,
  ``udpin``, ``udp``) is the template's port + 10 x i, so with the defaults
  vehicle 0 serves TCP 5760, vehicle 1 TCP 5770, ...;
- every *outgoing* endpoint (``udpout``, ``tcp``) is shared: each vehicle
  sends to the same address (default ``udpout:127.0.0.1:14550``) from its
  own socket, so a ground station (``edgepilot gcs``, MAVProxy, QGC) on
  that port hears the whole fleet, as it does with ArduPilot SITL instances
  started with ``--out 127.0.0.1:14550``.

Scenario format (the multi-vehicle lockstep runner, branch f1-fleetsim,
reads the same key names)::

    name = "fleet_yard"
    seed = 1
    vehicles = [
      {vehicle = "ugv", sysid = 1, start = {x = 4.0, y = 4.0, yaw_deg = 90.0}},
      {vehicle = "ugv", sysid = 2, start = {x = 8.0, y = 4.0}, name = "ugv-b"},
    ]
    [world]
    ...

(``[[vehicles]]`` tables are the same thing.)  ``mission`` is optional here:
in real time every vehicle starts disarmed in HOLD with an empty mission,
as the single-vehicle real-time mode does.

Worlds: each vehicle gets its own ``Simulation`` and so its own copy of
the (static) world, not one shared world.  What is shared: every vehicle's
lidar sees the others, each a moving circle of its circumscribed radius at
its true position (``_see_each_other``).  Not modelled here: collisions
between vehicles, and other vehicles on cameras or AIS.  One shared world
with all of that is the lockstep fleet runner's (sim/fleet/); this module
only needs N vehicles on one loop and is meant to switch to that world
when it lands.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from pydantic import Field

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint
from edgepilot.firmware_bridge.mavlink.signing import load_key
from edgepilot.onboard.loop import RuntimeLoop, ScaledClock
from edgepilot.sim.realtime import fault_logger, stop_on_signals
from edgepilot.sim.scenario import Scenario, Start, scenario_path, vehicle_path
from edgepilot.sim.simulation import PHYSICS_DT, Simulation
from edgepilot.vehicle.config import ConfigError, Strict, load_vehicle_config, parse_model, read_toml
from edgepilot.vehicle.containment import contain, contained_step
from edgepilot.vehicle.params import ParamStore

log = logging.getLogger(__name__)
DEFAULT_ENDPOINTS = ("tcpin:127.0.0.1:5760", "udpout:127.0.0.1:14550")
#: Port step between instances, as ArduPilot SITL's ``-I``.
PORT_STEP = 10
_LISTENING = ("tcpin", "udpin", "udp")
_SHARED = ("udpout", "tcp")


class FleetVehicleEntry(Strict):
    """One entry of a fleet scenario's ``vehicles`` list."""

    vehicle: str = Field(description="vehicle file: a name in configs/vehicles or a TOML path")
    sysid: int = Field(ge=1, le=255, description="MAVLink system id")
    start: Start
    name: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.-]+$")


def is_fleet_scenario(name_or_path: str | Path) -> bool:
    """True when the scenario file has a ``vehicles`` list (a fleet)."""
    try:
        data = read_toml(scenario_path(name_or_path))
    except ConfigError:
        return False       # the single-vehicle loader reports the error
    return "vehicles" in data


def instance_endpoints(templates, instance: int) -> list[str]:
    """The endpoints of instance ``instance``: listening ports moved by
    10 x instance, outgoing addresses shared.  ValueError for a form that
    cannot be shared between instances (serial devices)."""
    out = []
    for spec in templates:
        kind, sep, rest = spec.partition(":")
        kind_l = kind.lower()
        if kind_l in _SHARED:
            out.append(spec)
            continue
        host, sep2, port = rest.rpartition(":")
        if kind_l not in _LISTENING or not sep or not sep2 or not port.isdigit():
            raise ValueError(f"--mavlink {spec}: a fleet needs network endpoints (tcpin:HOST:PORT, udpin:HOST:PORT, "
                             "udpout:HOST:PORT, tcp:HOST:PORT); a serial device cannot serve several vehicles")
        p = int(port) + PORT_STEP * instance
        if p > 65535:
            raise ValueError(f"--mavlink {spec}: instance {instance} would need port {p} (> 65535)")
        out.append(f"{kind}:{host}:{p}")
    return out


def load_fleet_scenario(name_or_path: str | Path) -> tuple[str, list[tuple[FleetVehicleEntry, Scenario]]]:
    """The fleet's name and one single-vehicle ``Scenario`` per entry (the
    shared world, seed, faults, fence and traffic; the entry's vehicle file,
    start and system id).  ConfigError names the file and key."""
    path = scenario_path(name_or_path)
    data = read_toml(path)
    raw = data.get("vehicles")
    if not isinstance(raw, list) or not raw:
        raise ConfigError(f"{path}: vehicles: expected a non-empty list of {{vehicle, sysid, start}} tables")
    entries = [parse_model(FleetVehicleEntry, e if isinstance(e, dict) else {"_": e}, f"{path}: vehicles.{i}")
               for i, e in enumerate(raw)]
    seen: dict = {}
    for i, e in enumerate(entries):
        if e.sysid in seen:
            raise ConfigError(f"{path}: vehicles.{i}.sysid: {e.sysid} repeats vehicles.{seen[e.sysid]}.sysid")
        seen[e.sysid] = i
    names = [e.name or f"{Path(e.vehicle).stem}{e.sysid}" for e in entries]
    for i, n in enumerate(names):
        if names.index(n) != i:
            raise ConfigError(f"{path}: vehicles.{i}.name: {n!r} repeats vehicles.{names.index(n)}")
    base = {k: v for k, v in data.items() if k != "vehicles"}
    fleet_name = str(base.get("name", path.stem))
    out = []
    for i, (e, n) in enumerate(zip(entries, names)):
        d = dict(base)
        d["name"] = f"{fleet_name}/{n}"
        d["vehicle"] = e.vehicle
        d["start"] = e.start.model_dump()
        d.setdefault("mission", {"waypoints": [[e.start.x, e.start.y]]})
        sc = parse_model(Scenario, d, path)
        vpath = vehicle_path(e.vehicle, path.parent)
        if not vpath.exists():
            raise ConfigError(f"{path}: vehicles.{i}.vehicle: no vehicle file {str(vpath)!r}")
        vcfg = load_vehicle_config(vpath)
        xmin, ymin, xmax, ymax = sc.world.bounds
        if not (xmin <= e.start.x <= xmax and ymin <= e.start.y <= ymax):
            raise ConfigError(f"{path}: vehicles.{i}.start: ({e.start.x}, {e.start.y}) is outside world.bounds")
        out.append((e.model_copy(update={"name": n}), sc.model_copy(update={"source": str(path),
                                                                             "vehicle_config": vcfg})))
    return fleet_name, out


@dataclass
class FleetMember:
    """One vehicle of the fleet: its instance number, simulation, core and endpoint."""

    name: str
    instance: int
    sim: Simulation
    core: object
    endpoint: MavlinkEndpoint
    substeps: int              # physics steps per control tick of this vehicle
    _since_tick: int = 0

    @property
    def sysid(self) -> int:
        return self.endpoint.sysid


@dataclass
class RealtimeFleet:
    name: str
    members: list[FleetMember]
    loop: RuntimeLoop
    closed: bool = field(default=False)

    def run(self, duration: float | None = None, should_stop: Callable[[], bool] | None = None) -> None:
        try:
            self.loop.run(until=duration, should_stop=should_stop)
        finally:
            self.close()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        for m in self.members:
            try:
                m.endpoint.close()
            except Exception:  # noqa: BLE001 - close every endpoint whatever one does
                log.exception("closing the endpoint of %s", m.name)


def _see_each_other(members: list[FleetMember]) -> None:
    """Every vehicle's lidar also sees the other vehicles (circles of their
    circumscribed radius at their true positions), added to what its
    Simulation already shows the lidar (fault objects, traffic)."""
    radius = [m.sim.cfg.geometry.circumscribed_radius for m in members]
    for i, m in enumerate(members):
        own = m.sim._moving_circles
        others = [(j, o) for j, o in enumerate(members) if o is not m]

        def moving(now, own=own, others=others):
            rows = np.array([(o.sim.truth.x, o.sim.truth.y, radius[j]) for j, o in others],
                            dtype=np.float64).reshape(-1, 3)
            return np.vstack((own(now), rows))

        m.sim._moving_circles = moving


def build_fleet(name_or_path: str | Path, *, seed: int | None = None, endpoints: list[str] | None = None,
                speedup: float = 1.0, signing_key: bytes | None = None) -> RealtimeFleet:
    """Wire one Simulation + VehicleCore + MavlinkEndpoint per vehicle of a
    fleet scenario and one RuntimeLoop over all of them.  ConfigError /
    ValueError / OSError name the file, key or endpoint."""
    if not speedup > 0:
        raise ValueError(f"--speedup: expected a positive number, got {speedup}")
    fleet_name, specs = load_fleet_scenario(name_or_path)
    templates = list(endpoints or DEFAULT_ENDPOINTS)
    members: list[FleetMember] = []
    try:
        for i, (entry, sc) in enumerate(specs):
            sim = Simulation(sc, None if seed is None else seed + i)
            cfg = sc.vehicle_config
            params = ParamStore(cfg)
            res = params.set("SYSID_THISMAV", float(entry.sysid))
            if not getattr(res, "ok", True):
                raise ConfigError(f"vehicles.{i}.sysid: {res.reason}")
            core = sim.make_core(params)
            key = signing_key
            if key is None and cfg.mavlink.signing_key_file:
                key = load_key(Path(cfg.mavlink.signing_key_file).expanduser())
            ep = MavlinkEndpoint(core, instance_endpoints(templates, i), cfg.kind, sysid=entry.sysid, compid=1,
                                 vehicle_id=f"{cfg.name}/{sc.name}", signing_key=key)
            substeps = max(1, int(round(1.0 / (cfg.control.rate_hz * PHYSICS_DT))))
            sim.apply(core.last_setpoint, 0.0)
            members.append(FleetMember(entry.name, i, sim, core, ep, substeps))
    except BaseException:
        for m in members:
            m.endpoint.close()
        raise
    _see_each_other(members)
    # One loop at the fastest vehicle's control rate; a slower vehicle's
    # core runs every k-th tick, its physics on every tick.
    base = min(m.substeps for m in members)
    for m in members:
        if m.substeps % base:
            raise ValueError(f"{m.name}: control rate {1.0 / (m.substeps * PHYSICS_DT):g} Hz is not a whole "
                             f"fraction of the fleet's fastest ({1.0 / (base * PHYSICS_DT):g} Hz)")
        m._since_tick = m.substeps    # every core ticks at t = 0
    log_fault = fault_logger(log)

    def step(t: float, dt: float) -> None:
        for m in members:
            if m._since_tick >= m.substeps:
                m._since_tick = 0
                m.sim.apply(contained_step(m.core, t, m.sim.sensors(t),
                                           on_fault=lambda w, e, n=m.name: log_fault(f"{n}: {w}", e)), t)
            for _ in range(base):
                m.sim.step(PHYSICS_DT)
            m._since_tick += base

    def poll(t: float) -> None:
        for m in members:
            try:
                m.endpoint.poll(t)
            except Exception as e:  # noqa: BLE001 - contained: that vehicle HOLDs, the fleet keeps serving
                log_fault(f"{m.name}: MAVLink poll", e)
                m.sim.apply(contain(m.core, t, "MAVLink poll", e), t)
            m.endpoint.last_command = m.core.last_setpoint

    def fds() -> list[int]:
        out: list[int] = []
        for m in members:
            out.extend(m.endpoint.fds())
        return out

    loop = RuntimeLoop(step, poll, rate_hz=1.0 / (base * PHYSICS_DT), clock=ScaledClock(speedup), fds=fds,
                       late="slip")
    return RealtimeFleet(fleet_name, members, loop)


def run_realtime_fleet_cli(args) -> int:
    """``edgepilot sitl run --realtime FLEET_SCENARIO``; returns an exit code."""
    unsupported = [opt for opt, attr in (("--state-dir", "state_dir"), ("--params", "params"), ("--tlog", "tlog"))
                   if getattr(args, attr, None)]
    if unsupported:
        print(f"error: {', '.join(unsupported)}: not supported for a fleet scenario yet (one vehicle only)",
              file=sys.stderr)
        return 2
    try:
        key = load_key(args.signing_key) if getattr(args, "signing_key", None) else None
        fleet = build_fleet(args.scenario, seed=args.seed, endpoints=args.mavlink or None,
                            speedup=args.speedup if args.speedup else 1.0, signing_key=key)
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    should_stop = stop_on_signals()
    # the ready line first (spawn() returns on it), then one line per instance
    print(f"edgepilot SITL real-time: fleet {fleet.name}, {len(fleet.members)} vehicles "
          f"(sysid {', '.join(str(m.sysid) for m in fleet.members)}), speedup {fleet.loop.clock.speedup:g}"
          f"{', signing required' if key else ''}", flush=True)
    for m in fleet.members:
        cfg = m.sim.cfg
        print(f"  instance {m.instance}: {m.name} ({cfg.kind}, {cfg.name}) sysid {m.sysid} on "
              f"{', '.join(t.spec for t in m.endpoint.transports)}", flush=True)
    t0 = time.monotonic()
    fleet.run(duration=getattr(args, "duration", None), should_stop=should_stop)
    print(f"stopped after {fleet.loop.t:.1f} s vehicle time ({time.monotonic() - t0:.1f} s wall)", flush=True)
    for m in fleet.members:
        st = m.endpoint.stats()
        print(f"  {m.name} sysid {m.sysid}: MAVLink rx {st.get('rx_messages', 0)}, rx errors "
              f"{st.get('rx_errors', 0)}, internal errors {m.core.internal_errors}", flush=True)
    return 0


__all__ = ["DEFAULT_ENDPOINTS", "FleetVehicleEntry", "RealtimeFleet", "build_fleet", "instance_endpoints",
           "is_fleet_scenario", "load_fleet_scenario", "run_realtime_fleet_cli"]
