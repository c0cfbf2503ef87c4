"""Real-time SITL of a fleet: the vehicles of a fleet scenario in one
shared world on the wall clock, each served over MAVLink the way ArduPilot
SITL instances are.

``edgepilot sitl run --realtime FLEET_SCENARIO`` (dispatched here from
``sim/realtime.py`` when the scenario has a ``vehicles`` list) takes the
same ``[[vehicles]]`` files the lockstep fleet runner does
(``sim/fleet/scenario.py``; in real time a vehicle needs neither a mission
nor a name) and builds the same shared world (``sim.fleet.runner.build_fleet``:
one truth raster per surface domain, every other vehicle a moving obstacle
to a vehicle's lidar and camera, AIS between boats, shared traffic).  One
``onboard.RuntimeLoop`` steps it on one world clock; each vehicle runs its
own unchanged core at its own control rate and has its own MAVLink endpoint:

- its own system id (``SYSID_THISMAV`` set from the entry's ``sysid``);
- instance ``i`` (the entry's index in ``vehicles``) gets its own ports as
  ArduPilot's ``-I i`` does: every *listening* endpoint (``tcpin``,
  ``udpin``, ``udp``) is the template's port + 10 x i, so with the defaults
  vehicle 0 serves TCP 5760, vehicle 1 TCP 5770, ...;
- every *outgoing* endpoint (``udpout``, ``tcp``) is shared: each vehicle
  sends to the same address (default ``udpout:127.0.0.1:14550``) from its
  own socket, so a ground station (``edgepilot gcs``, MAVProxy, QGC) on
  that port hears the whole fleet, as it does with ArduPilot SITL instances
  started with ``--out 127.0.0.1:14550``.

Every vehicle starts disarmed in HOLD with an empty mission, as the
single-vehicle real-time mode does (a ``mission`` in the file is not
loaded: the ground station uploads one).  The smallest gap between any two
vehicles' footprints and every collision between vehicles are tracked as
the lockstep fleet runner tracks them (printed when one happens and at the
end).  Fleet faults that concern a vehicle (``vehicle_breakdown``:
motors dead, its computer and radios silent) apply on the world clock.
With ``--v2v`` a scenario's task file and its task faults (``new_task``,
``cancel_task``) are played by the run's operator (``sim.fleet.operator``:
a ground station in its own thread, over MAVLink, with the code of ``gcs
fleet tasks upload --auction`` / ``tasks cancel --auction``; each fault
printed when played and when answered, the answers counted at the end);
without it they are left out, as is what else of the lockstep file real
time does not run, each said in a ``note:`` line (``realtime_notes``).
With ``--v2v`` the vehicles' V2V sockets talk
through the lockstep run's radio model (``sim.fleet.v2v_relay``: the
scenario's ``[link]`` range, loss and latency, its ``link_partition`` and
``link_loss`` faults on the world clock); the frames it drops are counted
by reason and printed when a link fault starts and ends and at the end.
Each boat shares its route ahead with its fleet-mates over that link, as
in lockstep (``firmware_bridge.fleet_routes``): a line says when a boat's
COLREGs helm begins or stops predicting a mate along her route, and the
summary counts the routes each boat sent, heard and used.  A
scenario's ``[threat_watch]`` runs (``sim.fleet.threat_watch``, every
``period_s`` of world time): each alert goes out as STATUSTEXT and
EDGEPILOT_THREAT_ALERT on the MAVLink output of the vehicle nearest the
contact; its ``[patrol]`` is not run.  A vehicle sends OBSTACLE_DISTANCE
(what its lidar tracks, ``firmware_bridge.mavlink.proximity``) when asked.
"""
from __future__ import annotations

import logging
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint
from edgepilot.firmware_bridge.mavlink.signing import load_key
from edgepilot.onboard.loop import RuntimeLoop, ScaledClock
from edgepilot.sim.fleet.link import V2VRadio
from edgepilot.sim.fleet.runner import SeparationLog
from edgepilot.sim.fleet.runner import build_fleet as build_fleet_world
from edgepilot.sim.fleet.scenario import FleetScenario, is_fleet_scenario, load_fleet_scenario
from edgepilot.sim.fleet.v2v_relay import V2VRelay
from edgepilot.sim.lockstep import tick_core
from edgepilot.sim.realtime import fault_logger, stop_on_signals
from edgepilot.sim.simulation import PHYSICS_DT
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.containment import contain
from edgepilot.vehicle.types import Event, Severity

log = logging.getLogger(__name__)
DEFAULT_ENDPOINTS = ("tcpin:127.0.0.1:5760", "udpout:127.0.0.1:14550")
#: Port step between instances, as ArduPilot SITL's ``-I``.
PORT_STEP = 10
_LISTENING = ("tcpin", "udpin", "udp")
_SHARED = ("udpout", "tcp")


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


#: Fleet faults the real-time fleet plays only when the vehicles have a V2V
#: link (--v2v): the radio's, and the operator's task changes (the vehicles'
#: on-board auction takes them).
_V2V_FAULTS = {"link_partition": "a V2V radio partition", "link_loss": "a V2V radio outage",
               "new_task": "the operator's new task for the vehicles' on-board auction",
               "cancel_task": "the operator's task cancel for the vehicles' on-board auction"}
_TASK_FAULTS = ("new_task", "cancel_task")


def load_realtime_fleet(name_or_path: str | Path) -> FleetScenario:
    """The fleet scenario, loaded as the lockstep runner loads it
    (``sim.fleet.scenario.load_fleet_scenario``; no mission or name needed).
    ConfigError names the file and key."""
    return load_fleet_scenario(name_or_path, realtime=True)


def realtime_notes(sc: FleetScenario, v2v: bool = False) -> list[str]:
    """What of a lockstep fleet file the real-time fleet leaves out, one line
    each; ``v2v``: the vehicles have a V2V link (its faults are played)."""
    out = []
    if sc.tasks is not None and not v2v:
        out.append(f"tasks: {sc.tasks} is not run here: in real time the ground station hands tasks out "
                   f"(`edgepilot gcs fleet tasks upload FILE [--auction]`; with --v2v the run's operator "
                   f"hands this file to the vehicles' on-board auction)")
    elif sc.tasks is not None and sc.allocator != "cbba":
        out.append(f"allocator: {sc.allocator} is the lockstep run's; in real time the vehicles auction "
                   f"{sc.tasks} among themselves (CBBA on board)")
    if sc.patrol is not None:
        out.append("patrol: not run: every vehicle waits in HOLD for its ground station")
    if sc.threat_watch is not None:
        out.append("threat_watch: runs; each alert goes out as STATUSTEXT and EDGEPILOT_THREAT_ALERT from the "
                   "vehicle nearest the contact; the shadow or inspect task it suggests is the ground station's call")
    if any(v.mission is not None for v in sc.vehicles):
        out.append("vehicles.*.mission: not loaded: every vehicle waits in HOLD for its ground station")
    for i, f in enumerate(sc.faults):
        if f.type in _V2V_FAULTS and not v2v:
            out.append(f"faults.{i}: {f.type} not played: {_V2V_FAULTS[f.type]}, and the vehicles have no V2V "
                       f"link (--v2v HOST:PORT)")
    return out


@dataclass
class FleetMember:
    """One vehicle of the fleet: its instance number, its run in the shared
    world (``sim.fleet.runner._Run``: member, simulation, core) and endpoint."""

    name: str
    instance: int
    run: object
    endpoint: MavlinkEndpoint
    broken_at: float | None = None
    reached: set = field(default_factory=set)        # seqs of the current mission reached (breakdown at_progress)
    mission: tuple = ()
    cursor: int = 0
    #: per-vehicle processes beside the core polled with the endpoint (the onboard fleet auction)
    extras: list = field(default_factory=list)

    @property
    def sysid(self) -> int:
        return self.endpoint.sysid

    @property
    def sim(self):
        return self.run.m.sim

    @property
    def core(self):
        return self.run.core


@dataclass
class RealtimeFleet:
    name: str
    scenario: FleetScenario
    world: object                 # sim.fleet.world.FleetWorld
    members: list[FleetMember]
    loop: RuntimeLoop
    separation: SeparationLog
    #: the fleet's threat watch (``sim.fleet.threat_watch``) when the scenario has one
    watch: object = None
    #: the simulated V2V radio between the vehicles' V2V sockets (--v2v), else None
    relay: object = None
    #: the ground station's operator playing the task file and task faults (``sim.fleet.operator``), else None
    operator: object = None
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
            for x in m.extras:
                try:
                    x.close()
                except Exception:  # noqa: BLE001 - close everything whatever one does
                    log.exception("closing %s of %s", type(x).__name__, m.name)
            try:
                m.endpoint.close()
            except Exception:  # noqa: BLE001 - close every endpoint whatever one does
                log.exception("closing the endpoint of %s", m.name)
        if self.relay is not None:
            self.relay.close()
        if self.operator is not None:
            self.operator.close()


def v2v_ports(template: str, n: int) -> list[tuple[str, int]]:
    """(host, port) of each of ``n`` instances' V2V sockets: ``template``'s
    port + 10 x instance, as the MAVLink ports."""
    from edgepilot.firmware_bridge.fleet_v2v import parse_hostport

    host, port = parse_hostport(template)
    if port == 0 or port + PORT_STEP * (n - 1) > 65535:
        raise ValueError(f"--v2v {template}: expected a port in 1..{65535 - PORT_STEP * (n - 1)} for {n} vehicles")
    return [(host, port + PORT_STEP * i) for i in range(n)]


def build_fleet(name_or_path: str | Path, *, seed: int | None = None, endpoints: list[str] | None = None,
                speedup: float = 1.0, signing_key: bytes | None = None,
                on_line: Callable[[str], None] | None = None, v2v: str | None = None) -> RealtimeFleet:
    """The shared world of a fleet scenario (``sim.fleet.runner.build_fleet``),
    a MavlinkEndpoint per vehicle and one RuntimeLoop over all of them.
    ``on_line(text)`` hears what happens in the world (collisions,
    breakdowns).  ``v2v`` (HOST:PORT): every vehicle also gets a UDP V2V
    link (``firmware_bridge.fleet_v2v``, instance i on PORT + 10 x i, its
    one peer the simulated radio's relay) and runs the task auction on board
    (``onboard.fleet_auction``) with the scenario's ``link.period_s``,
    ``stale_after_s``, ``max_tasks_per_vehicle`` and ``[lease]`` (task
    leases, as the lockstep runner); their V2V frames
    pass through ``sim.fleet.v2v_relay.V2VRelay`` (the scenario's ``[link]``
    and link faults, the lockstep radio model).  ConfigError /
    ValueError / OSError name the file, key or endpoint."""
    if not speedup > 0:
        raise ValueError(f"--speedup: expected a positive number, got {speedup}")
    sc = load_realtime_fleet(name_or_path)
    templates = list(endpoints or DEFAULT_ENDPOINTS)
    for i in range(len(sc.vehicles)):
        instance_endpoints(templates, i)          # a bad endpoint fails before any socket opens
    ports = v2v_ports(v2v, len(sc.vehicles)) if v2v else None
    dialect = None
    if ports is not None:
        from edgepilot.firmware_bridge.fleet_routes import RouteAheadShare
        from edgepilot.firmware_bridge.fleet_v2v import V2VLink
        from edgepilot.firmware_bridge.mavlink import dialects
        from edgepilot.onboard.fleet_auction import FleetAuction

        dialect = dialects.load()          # the vehicles' links parse the task file the ground station sends
        from edgepilot.vehicle.fleet.lease import LeaseParams

        # the lockstep runner's task leases (sim/fleet/tasking.py): the scenario's [lease], settled in a round
        lease = LeaseParams(duration_s=sc.lease.duration_s, margin_s=sc.lease.margin_s,
                            renew_within_s=sc.lease.renew_within_s, settle_s=sc.link.period_s)
    fw, runs, seed = build_fleet_world(sc, seed)
    say = on_line or (lambda text: None)
    for note in realtime_notes(sc, v2v=ports is not None):
        say(f"note: {note}")
    members: list[FleetMember] = []
    relay = operator = None
    try:
        if ports is not None:
            relay = V2VRelay(V2VRadio.of_scenario(sc, fw, seed), ports, host=ports[0][0])
        if ports is not None and sc.tasks is not None:
            from edgepilot.sim.fleet.operator import FleetOperator

            okey = signing_key
            if okey is None and sc.vehicles[0].vehicle_config.mavlink.signing_key_file:
                okey = load_key(Path(sc.vehicles[0].vehicle_config.mavlink.signing_key_file).expanduser())
            operator = FleetOperator(sc, signing_key=okey)
        for i, r in enumerate(runs):
            v = r.m.spec
            cfg = v.vehicle_config
            res = r.core.params.set("SYSID_THISMAV", float(v.sysid))
            if not getattr(res, "ok", True):
                raise ConfigError(f"{sc.source}: vehicles.{i}.sysid: {res.reason}")
            key = signing_key
            if key is None and cfg.mavlink.signing_key_file:
                key = load_key(Path(cfg.mavlink.signing_key_file).expanduser())
            eps = instance_endpoints(templates, i) + ([operator.address] if operator is not None else [])
            ep = MavlinkEndpoint(r.core, eps, cfg.kind, sysid=v.sysid, compid=1,
                                 vehicle_id=f"{cfg.name}/{sc.name}/{v.name}", signing_key=key, dialect=dialect)
            r.m.sim.apply(r.core.last_setpoint, 0.0)
            m = FleetMember(v.name, i, r, ep)
            members.append(m)
            if ports is not None:
                link = V2VLink(v.sysid, f"{ports[i][0]}:{ports[i][1]}", [f"{relay.address[0]}:{relay.port}"],
                               signing_key=key)
                m.extras.append(FleetAuction(r.core, ep, link, period_s=sc.link.period_s,
                                             stale_after_s=sc.stale_after_s, max_bundle=sc.max_tasks_per_vehicle,
                                             lease=lease))
                if v.domain == "water":
                    # its route ahead to its fleet-mates' COLREGs helms, theirs to its own, on the same link
                    m.extras.append(RouteAheadShare(r.core, v.ais_mmsi, period_s=sc.link.period_s, v2v=link))
    except BaseException:
        for m in members:
            for x in m.extras:
                x.close()
            m.endpoint.close()
        if relay is not None:
            relay.close()
        if operator is not None:
            operator.close()
        raise
    # One loop at the fastest vehicle's control rate; a slower vehicle's
    # core runs every k-th tick, physics (and the shared world) on every
    # 100 Hz step, as in the lockstep fleet runner.
    base = min(r.control_every for r in runs)
    for m in members:
        if m.run.control_every % base:
            raise ValueError(f"{m.name}: control rate {1.0 / (m.run.control_every * PHYSICS_DT):g} Hz is not a "
                             f"whole fraction of the fleet's fastest ({1.0 / (base * PHYSICS_DT):g} Hz)")
    log_fault = fault_logger(log)
    names = [m.name for m in members]
    sep = SeparationLog()
    sep_every = max(1, int(round(0.1 / PHYSICS_DT)))       # 10 Hz, as the lockstep fleet runner
    breakdowns = [f for f in sc.faults if f.type == "vehicle_breakdown"]
    task_faults = sorted((f for f in sc.faults if f.type in _TASK_FAULTS and operator is not None),
                         key=lambda f: f.at_s)
    by_name = {m.name: m for m in members}
    clock = {"n": 0}                                       # physics steps done: world time = n * PHYSICS_DT

    watch = None
    if sc.threat_watch is not None:
        from edgepilot.sim.fleet.threat_watch import ThreatWatch

        by_sysid = {m.sysid: m for m in members}

        def send_alert(a, v, rec, reporter, t: float) -> None:
            """The alert on the reporting vehicle's MAVLink output: its
            STATUSTEXT line, then the structured EDGEPILOT_THREAT_ALERT."""
            m = by_sysid[reporter.m.spec.sysid]
            if m.broken_at is not None:
                return
            m.endpoint.statustext(a.text(), int(Severity.ALERT))
            m.endpoint.broadcast(watch.codec().alert(a))
            say(f"t={t:.1f} s: {m.name} (sysid {m.sysid}) alert {a.kind} score {a.score:.2f} at "
                f"({a.x:.0f}, {a.y:.0f}) m: {'; '.join(a.reasons)}")

        watch = ThreatWatch(sc.threat_watch, fw, runs, on_alert=send_alert)

    def break_down(m: FleetMember, t: float) -> None:
        m.broken_at = t
        m.run.m.alive = False
        m.run.broken_at = t
        m.sim.stop()
        m.run.events.append(Event(t, "breakdown", f"{m.name}: vehicle breakdown", Severity.CRITICAL))
        say(f"t={t:.1f} s: {m.name} (sysid {m.sysid}) broke down: motors off, its computer and radios silent")
        for x in m.extras:
            x.close()
        m.endpoint.close()

    def progress(m: FleetMember) -> float:
        n = max(0, len(list(m.core.mission)) - 1)
        return len(m.reached) / n if n else 0.0

    def step(t: float, dt: float) -> None:
        # Breakdowns between loop ticks: what the vehicle's computer did in
        # the last tick (a task reported done over the radio) still went out.
        tw = clock["n"] * PHYSICS_DT
        for f in breakdowns:
            m = by_name[f.vehicle]
            if m.broken_at is None and (tw >= f.at_s if f.at_s is not None else progress(m) >= f.at_progress):
                break_down(m, tw)
        if operator is not None:
            if not operator.started:
                operator.start()
            while task_faults and tw >= task_faults[0].at_s:
                f = task_faults.pop(0)
                to = [m for m in members if (f.to is None or m.name in f.to) and m.broken_at is None]
                operator.play(f.type, f.task, tw, [m.sysid for m in to])
                say(f"t={tw:.1f} s: operator: {f.type} {f.task} to "
                    f"{', '.join(f'{m.name} (sysid {m.sysid})' for m in to) or 'nobody (all broken down)'}")
        for _ in range(base):
            n = clock["n"]
            tw = n * PHYSICS_DT
            for m in members:
                if m.broken_at is not None:
                    continue
                sim, core = m.sim, m.core
                sp = sim.faults.operate(tw, core)
                if sp is not None:
                    sim.apply(sp, tw)
                if n % m.run.control_every == 0 and not sim.faults.core_stalled(tw):
                    tick_core(sim, core, tw, on_fault=lambda w, e, nm=m.name: log_fault(f"{nm}: {w}", e))
                    if core.mission is not m.mission:        # a new mission: progress starts again
                        m.mission, m.reached = core.mission, set()
                    new, m.cursor = core.events_since(m.cursor)
                    m.reached.update(e.data["seq"] for e in new if e.kind == "item_reached" and "seq" in e.data)
            if n % sep_every == 0 and len(members) > 1:
                pair = sep.sample(fw, names, tw)
                if pair is not None:
                    say(f"t={tw:.1f} s: collision between {pair[0]} and {pair[1]}")
            for m in members:
                m.sim.step(PHYSICS_DT)
            clock["n"] = n + 1
            fw.advance(clock["n"] * PHYSICS_DT)
        if watch is not None and watch.due(clock["n"] * PHYSICS_DT):
            try:
                watch.step(clock["n"] * PHYSICS_DT)
            except Exception as e:  # noqa: BLE001 - contained: the fleet keeps running without this watch pass
                log_fault("threat watch", e)

    def poll(t: float) -> None:
        for m in members:
            if m.broken_at is not None:
                continue
            try:
                m.endpoint.poll(t)
                for x in m.extras:
                    x.poll(t)
            except Exception as e:  # noqa: BLE001 - contained: that vehicle HOLDs, the fleet keeps serving
                log_fault(f"{m.name}: MAVLink poll", e)
                m.sim.apply(contain(m.core, t, "MAVLink poll", e), t)
            m.endpoint.last_command = m.core.last_setpoint
            for x in m.extras:
                for text in (x.changes() if hasattr(x, "changes") else ()):
                    say(f"t={clock['n'] * PHYSICS_DT:.1f} s: {m.name} (sysid {m.sysid}) {text}")
        if relay is not None:           # after the vehicles: what they sent this tick goes out now
            tw = clock["n"] * PHYSICS_DT
            relay.poll(tw)
            for text in relay.changes(tw):
                say(f"t={tw:.1f} s: {text}")
        if operator is not None:
            for a in operator.results():
                say(f"t={clock['n'] * PHYSICS_DT:.1f} s: {operator_line(a, operator.names)}")

    def fds() -> list[int]:
        out: list[int] = []
        for m in members:
            if m.broken_at is None:
                out.extend(m.endpoint.fds())
                for x in m.extras:
                    out.extend(x.fds())
        if relay is not None:
            out.extend(relay.fds())
        return out

    loop = RuntimeLoop(step, poll, rate_hz=1.0 / (base * PHYSICS_DT), clock=ScaledClock(speedup), fds=fds,
                       late="slip")
    return RealtimeFleet(sc.name, sc, fw, members, loop, sep, watch=watch, relay=relay, operator=operator)


def operator_line(a, names: dict) -> str:
    """One line of what the vehicles answered the operator (``sim.fleet.operator.Answer``)."""
    def who(s):
        return f"{names.get(s, s)} (sysid {s})"

    what = "task file handed over" if a.what == "hand_over" else f"{a.what} {a.task}"
    parts = [f"{who(s)} {r}" for s, r in sorted(a.answers.items())]
    parts += [f"{who(s)} did not answer" for s in a.not_answered]
    parts += [f"{who(s)} not heard, not sent to" for s in a.not_heard]
    plan = f" (plan {a.plan_id})" if a.plan_id is not None else ""
    return (f"operator: {what}{plan} answered: {'; '.join(parts) or 'nobody'}"
            + (f"; {a.note}" if a.note else ""))


def own_tasks(status: dict, sysid: int) -> list[str]:
    """The tasks a vehicle's auction (``FleetAuction.status()``) says it did itself."""
    return sorted(t for t, s in status.get("done_by", {}).items() if s == sysid)


def run_realtime_fleet_cli(args) -> int:
    """``edgepilot sitl run --realtime FLEET_SCENARIO``; returns an exit code."""
    unsupported = [opt for opt, attr in (("--state-dir", "state_dir"), ("--params", "params"), ("--tlog", "tlog"))
                   if getattr(args, attr, None)]
    if unsupported:
        print(f"error: {', '.join(unsupported)}: not supported for a fleet scenario yet (one vehicle only)",
              file=sys.stderr)
        return 2

    def say(text: str) -> None:
        print(text, flush=True)

    try:
        key = load_key(args.signing_key) if getattr(args, "signing_key", None) else None
        fleet = build_fleet(args.scenario, seed=args.seed, endpoints=args.mavlink or None,
                            speedup=args.speedup if args.speedup else 1.0, signing_key=key, on_line=say,
                            v2v=getattr(args, "v2v", None))
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    should_stop = stop_on_signals()
    # the ready line first (spawn() returns on it), then one line per instance
    print(f"edgepilot SITL real-time: fleet {fleet.name}, {len(fleet.members)} vehicles in one world "
          f"(sysid {', '.join(str(m.sysid) for m in fleet.members)}), speedup {fleet.loop.clock.speedup:g}"
          f"{', signing required' if key else ''}", flush=True)
    for m in fleet.members:
        cfg = m.sim.cfg
        v2v_on = "".join(f", V2V udp {x.v2v.bind[0]}:{x.v2v.port}" for x in m.extras if hasattr(x, "v2v"))
        print(f"  instance {m.instance}: {m.name} ({cfg.kind}, {cfg.name}) sysid {m.sysid} on "
              f"{', '.join(t.spec for t in m.endpoint.transports)}{v2v_on}", flush=True)
    if fleet.relay is not None:
        print(f"  {fleet.relay.describe()}", flush=True)
    if fleet.operator is not None:
        print(f"  {fleet.operator.describe()}", flush=True)
    t0 = time.monotonic()
    fleet.run(duration=getattr(args, "duration", None), should_stop=should_stop)
    print(f"stopped after {fleet.loop.t:.1f} s vehicle time ({time.monotonic() - t0:.1f} s wall)", flush=True)
    sep = fleet.separation
    closest = ("-" if sep.at is None else
               f"{sep.min_gap_m:.2f} m ({sep.at[1]} and {sep.at[2]} at t={sep.at[0]:.1f} s)")
    print(f"  fleet: closest approach {closest}, collisions between vehicles {sep.collisions}", flush=True)
    if fleet.relay is not None:
        print(f"  {fleet.relay.summary()}", flush=True)
    if fleet.operator is not None:
        for a in fleet.operator.results():          # answered after the last tick
            print(f"  {operator_line(a, fleet.operator.names)}", flush=True)
        print(f"  {fleet.operator.summary()}", flush=True)
    for m in fleet.members:
        st = m.endpoint.stats()
        v2v_st = "".join(f", V2V sent {s['v2v_sent']} heard {s['v2v_received']} refused (signing) "
                         f"{s['v2v_rejected_signature']}" for s in (x.v2v.stats() for x in m.extras if hasattr(x, "v2v")))
        v2v_st += "".join(f", tasks done {', '.join(own_tasks(x.status(), m.sysid)) or '-'}"
                          for x in m.extras if hasattr(x, "status") and x.status().get("plan_id") is not None)
        v2v_st += "".join(f", {x.summary()}" for x in m.extras if hasattr(x, "changes"))
        print(f"  {m.name} sysid {m.sysid}: MAVLink rx {st.get('rx_messages', 0)}, rx errors "
              f"{st.get('rx_errors', 0)}, internal errors {m.core.internal_errors}{v2v_st}"
              + (f", broke down at t={m.broken_at:.1f} s" if m.broken_at is not None else ""), flush=True)
    return 0


__all__ = ["DEFAULT_ENDPOINTS", "FleetMember", "RealtimeFleet", "SeparationLog", "build_fleet",
           "instance_endpoints", "is_fleet_scenario", "load_realtime_fleet", "realtime_notes",
           "run_realtime_fleet_cli"]
