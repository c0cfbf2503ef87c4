"""``edgepilot vehicle run``: the onboard process.

Loads and validates the vehicle config, opens the drivers its ``[hardware]``
table names, runs the autonomy core at its control rate on the monotonic
clock (``onboard.loop.RuntimeLoop``), serves MAVLink to ground
stations, logs, and on SIGTERM/SIGINT stops the motors first, then closes
links and ports.

Wiring: ``direct`` drives a motor-controller board and reads the GPS (and
lidar) itself (vehicle/runtime/drivers.py); ``companion`` steers an
ArduPilot/PX4 autopilot over MAVLink (vehicle/runtime/companion.py).  The
loop waits on both kinds of device and on the MAVLink sockets between ticks.

Safety while a device is missing: if the motor link or the GPS is lost
(companion: the autopilot link or its position), the vehicle is put in HOLD
and sent zero setpoints (companion: nothing) until they are back (the motor
board's own watchdog, or the autopilot, stops it if the link itself is
gone); it does not resume a mission by itself — an operator does.

Durable state: with a state folder (``--state-dir DIR`` or ``state_dir`` in
the ``[hardware]`` table) mission, fence, home and parameters are restored
at start and written as they change, and the core's events go to
DIR/events.jsonl, synced at least once a second (onboard.state_store).

AIS (a boat): ``--ais URL`` or ``[hardware.ais] source`` names the AIS
receiver (a serial device / pyserial URL at ``--ais-baud``, default 38400,
or ``udp:HOST:PORT``).  It is opened at start (one that cannot be opened
refuses the start, naming the option and the device), polled without
blocking like the other devices, and the vessels it hears go to the core in
the next tick's ``SensorFrame.contacts``, as the simulator hands the core
its traffic; our own MMSI (``--mmsi``) is not a contact.  AIS is not a
required device: losing it does not hold the vehicle.

The map frame's geodetic origin is ``--origin LAT,LON`` (required with
``--map``, the site's map_server map, and without a GPS); without it the
first 3-D GPS fix becomes the origin and the process holds still until that
fix arrives.

``--start-pose X,Y,YAW_DEG`` says where the vehicle stands (map frame ENU
metres, yaw in degrees counter-clockwise from east): the navigation EKF
starts there at the first control tick, so a vehicle without GNSS (and
without a map to localize on) can dead-reckon from where the operator put it.
"""
from __future__ import annotations

import json
import logging
import math
import os
import signal
import sys
import time
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path

EXIT_OK, EXIT_FAILED, EXIT_USAGE = 0, 1, 2
READY_PREFIX = "edgepilot vehicle: first control tick"
#: AIS reports kept for the next control tick at most (a tick takes all of them).
MAX_PENDING_AIS = 2000

log = logging.getLogger("edgepilot.vehicle")


def process_age_s() -> float | None:
    """Seconds since this process started (Linux /proc), or None elsewhere."""
    try:
        with open("/proc/self/stat") as f:
            start_ticks = int(f.read().rsplit(")", 1)[1].split()[19])
        with open("/proc/uptime") as f:
            uptime = float(f.read().split()[0])
        return max(0.0, uptime - start_ticks / os.sysconf("SC_CLK_TCK"))
    except (OSError, ValueError, IndexError):
        return None


_T_IMPORT = time.monotonic()
_AGE_AT_IMPORT = process_age_s()


def since_process_start() -> float:
    base = _AGE_AT_IMPORT if _AGE_AT_IMPORT is not None else 0.0
    return base + (time.monotonic() - _T_IMPORT)


def parse_origin(text: str) -> tuple[float, float]:
    try:
        lat_s, lon_s = text.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise ValueError(f"--origin: expected LAT,LON in degrees, got {text!r}") from None
    if not (-90 <= lat <= 90 and -180 <= lon <= 180) or not (math.isfinite(lat) and math.isfinite(lon)):
        raise ValueError(f"--origin: latitude must be in [-90, 90] and longitude in [-180, 180], got {text!r}")
    return lat, lon


#: 1-sigma of an operator's start pose: a vehicle set down on a marked spot.
START_POSE_STD_M = 0.1
START_YAW_STD_DEG = 2.0


def parse_start_pose(text: str) -> tuple[float, float, float]:
    """``X,Y,YAW_DEG`` -> (x [m], y [m], yaw [rad]), map frame ENU, yaw CCW from east."""
    parts = text.split(",")
    if len(parts) != 3:
        raise ValueError(f"--start-pose: expected X,Y,YAW_DEG (map frame metres, yaw in degrees CCW from east), "
                         f"got {text!r}")
    vals = []
    for name, p in zip(("X", "Y", "YAW_DEG"), parts):
        try:
            v = float(p)
        except ValueError:
            raise ValueError(f"--start-pose: {name} must be a number, got {p.strip()!r} in {text!r}") from None
        if not math.isfinite(v):
            raise ValueError(f"--start-pose: {name} must be finite, got {p.strip()!r} in {text!r}")
        vals.append(v)
    x, y, yaw_deg = vals
    if not -360.0 <= yaw_deg <= 360.0:
        raise ValueError(f"--start-pose: YAW_DEG must be in [-360, 360] degrees, got {yaw_deg:g}")
    return x, y, math.radians(yaw_deg)


@dataclass
class StartupReport:
    config: str
    vehicle: str
    kind: str
    wiring: str
    control_rate_hz: float
    drivers: list[dict] = field(default_factory=list)
    kernel_cache: str = ""
    kernel_files: int = 0
    kernel_files_cached: int = 0
    kernel_warm_s: float = 0.0
    bring_up_s: float = 0.0
    mavlink: list[str] = field(default_factory=list)
    origin: str = ""
    map: str | None = None
    start_pose: str | None = None
    time_to_first_tick_s: float | None = None
    v2v: str | None = None
    ais: str | None = None

    def lines(self) -> list[str]:
        out = [f"config          {self.config} ({self.vehicle}, {self.kind}, wiring {self.wiring})",
               f"control rate    {self.control_rate_hz:g} Hz"]
        for d in self.drivers:
            state = "found" if d["connected"] else "MISSING"
            extra = f" ({d['detail']})" if d["detail"] and not d["connected"] else ""
            out.append(f"driver          {d['name']:18s} {d['port']:30s} {state}{extra}")
        how = ("loading in the background" if self.kernel_cache == "hit"
               else "compiled before the control loop starts")
        out.append(f"kernel cache    {self.kernel_cache} ({self.kernel_files_cached} of {self.kernel_files} kernel files "
                   f"cached on disk; {how})")
        out.append(f"mavlink         {', '.join(self.mavlink)}")
        if self.v2v:
            out.append(f"v2v (auction)   {self.v2v}")
        if self.ais:
            out.append(f"ais             {self.ais}")
        out.append(f"origin          {self.origin}" + (f", map {self.map}" if self.map else ""))
        if self.start_pose:
            out.append(f"start pose      {self.start_pose}")
        if self.time_to_first_tick_s is not None:
            out.append(f"first tick      {self.time_to_first_tick_s:.3f} s after process start")
        return out


class Onboard:
    """The wired-up vehicle: drivers, core, endpoint, loop."""

    def __init__(self, cfg, config_path: str, origin: tuple[float, float] | None = None, map_path: str | None = None,
                 mavlink: list[str] | None = None, tlog: str | None = None, params: str | None = None,
                 warm: bool = True, state_dir: str | None = None, v2v: str | None = None,
                 v2v_peers: list[str] | None = None, fleet_period_s: float = 1.0, fleet_stale_s: float = 10.0,
                 fleet_lease_s: float = 8.0,
                 v2v_loss: float = 0.0, v2v_latency_s: float = 0.0,
                 start_pose: tuple[float, float, float] | None = None, mmsi: int | None = None,
                 ais: str | None = None, ais_baud: int | None = None):
        self.cfg = cfg
        hw = cfg.hardware
        self.events: list[str] = []
        self.report = StartupReport(config_path, cfg.name, cfg.kind, hw.wiring, cfg.control.rate_hz,
                                    mavlink=list(mavlink or hw.mavlink), map=map_path)
        if hw.wiring == "companion":
            from edgepilot.onboard.companion import CompanionDrivers

            self.drivers = CompanionDrivers(cfg, on_event=self._driver_event)
        else:
            from edgepilot.onboard.drivers import DirectDrivers

            self.drivers = DirectDrivers(cfg, on_event=self._driver_event)
        self.prior_map = None
        if map_path:
            from edgepilot.vehicle.maps import load_map_server

            if origin is None:
                raise ValueError("--map needs --origin LAT,LON (the geodetic position of the map's (0, 0))")
            self.prior_map = load_map_server(map_path)
        self.origin = origin
        if origin is None and hw.wiring == "direct" and hw.gps is None:
            raise ValueError("no [hardware.gps] to take the map origin from: give --origin LAT,LON")
        self.start_pose = start_pose
        self._start_pose_pending = start_pose is not None
        if start_pose is not None:
            if cfg.navigation.estimator != "ekf":
                raise ValueError("--start-pose needs navigation.estimator = \"ekf\" in the vehicle config (the GPS + "
                                 "compass filter takes its position from GPS only)")
            from edgepilot.vehicle.planning_grid import operating_area_refusal

            x, y, yaw = start_pose
            why = operating_area_refusal(x, y, cfg, (0.0, 0.0), self.prior_map)
            if why:
                raise ValueError(f"--start-pose: {why.replace('target', 'start pose', 1)}")
            self.report.start_pose = f"({x:.2f}, {y:.2f}) m, yaw {math.degrees(yaw):.1f} deg"
        self.warm = warm
        if warm:
            # The cache is checked on disk (cheap) before the first tick.  A
            # warm cache loads on a background thread, so the control loop
            # starts at once and the first plan pays no JIT time; a cold one
            # is compiled in open(), before the loop (see there).
            from edgepilot.onboard.kernels import disk_cache_status

            status, files, cached = disk_cache_status()
            self.report.kernel_cache = status
            self.report.kernel_files = files
            self.report.kernel_files_cached = cached
        else:
            self.report.kernel_cache = "not checked"
        self.tlog_path = tlog
        self.params_path = params
        self.state_dir = state_dir or hw.state_dir
        self.state = None
        if self.state_dir:
            from edgepilot.onboard.state_store import Persistence

            # Opened (and its files checked) now, so damaged state stops the
            # start with a usage error rather than the first control tick.
            self.state = Persistence(self.state_dir)
            self.state.check()
            from edgepilot.firmware_bridge.mavlink.signing import load_timestamp

            load_timestamp(self.state.folder / "signing.json")   # the replay floor (signing.py)
        # The parameter file too: a damaged one stops the start naming it
        # (the core itself may be built later, at the first GPS fix).
        param_path = self.params_path or (self.state.store.params_path if self.state is not None else None)
        if param_path:
            from edgepilot.onboard.param_file import persisted_params

            persisted_params(cfg, param_path)
        # The fleet auction over the V2V link (onboard.fleet_auction): the
        # socket is bound now, so a taken port stops the start naming it.
        self.v2v = None
        self.auction = None
        self.routes = None
        if mmsi is not None and not 100_000_000 <= int(mmsi) <= 999_999_999:
            raise ValueError(f"--mmsi: expected the boat's 9-digit AIS MMSI, got {mmsi}")
        self.mmsi = mmsi
        self._fleet = (fleet_period_s, fleet_stale_s)
        self._lease = None
        if v2v:
            from edgepilot.vehicle.fleet.lease import LeaseParams

            # task leases as the lockstep runner's (docs/fleet.md "Task leases"); a bad --fleet-lease fails here
            if not fleet_lease_s > 0:
                raise ValueError(f"--fleet-lease: expected a task lease's life > 0 s, got {fleet_lease_s}")
            self._lease = LeaseParams(duration_s=fleet_lease_s, settle_s=fleet_period_s)
        if v2v:
            from edgepilot.firmware_bridge.fleet_v2v import V2VLink
            from edgepilot.firmware_bridge.mavlink.signing import load_key

            if not v2v_peers:
                raise ValueError("--v2v: expected at least one --v2v-peer HOST:PORT (the other vehicles' radios, "
                                 "or a broadcast address)")
            fkey = (load_key(Path(cfg.mavlink.signing_key_file).expanduser())
                    if cfg.mavlink.signing_key_file else None)
            impair = None
            if v2v_loss or v2v_latency_s:          # a bench test: the radio's loss and latency put back
                import numpy as np

                from edgepilot.firmware_bridge.link_impairment import DelayLine

                try:
                    impair = DelayLine(v2v_loss, v2v_latency_s, np.random.default_rng(int(cfg.mavlink.sysid)))
                except ValueError as e:
                    raise ValueError(f"--v2v-loss / --v2v-latency: {e}") from None
            self.v2v = V2VLink(int(cfg.mavlink.sysid), v2v, list(v2v_peers), signing_key=fkey, impair=impair)
            self.report.v2v = f"udp {v2v} -> {', '.join(v2v_peers)}" + (
                "" if impair is None else f", hearing with loss {impair.loss:g} and latency {impair.latency_s:g} s")
        self.ais = None
        self._ais_reports: list = []
        self._open_ais(config_path, ais, ais_baud)
        self.core = None
        self.endpoint = None
        self.loop = None
        self.first_tick_at: float | None = None
        self._held = False
        self._ok_prev = None
        self.ticks = 0
        self.kernels_ready = not warm
        self.bring_up_error: str | None = None
        self._warm_pending = False
        self._settled = False
        self._next_overrun_log = 0.0
        self._next_fault_log = 0.0

    def _open_ais(self, config_path: str, url: str | None, baud: int | None) -> None:
        """The AIS receiver (``--ais`` or ``[hardware.ais]``), opened now:
        one that cannot be opened stops the start, naming the option and
        the device.  Its reports go to the core in the next tick's frame,
        as the simulator's traffic does (``SensorFrame.contacts``); our own
        MMSI (``--mmsi``) is not a contact."""
        from edgepilot.firmware_bridge.ais import AisDecoder, AisReceiver

        conf = self.cfg.hardware.ais
        source = url or (conf.source if conf is not None else None)
        if source is None:
            if baud is not None:
                raise ValueError("--ais-baud: no AIS receiver to set it for (give --ais URL, or [hardware.ais] "
                                 "source in the vehicle config)")
            return
        what = "--ais" if url else f"{config_path}: hardware.ais.source"
        if self.cfg.kind != "usv":
            raise ValueError(f"{what}: AIS contacts are for a boat's COLREGs helm; {self.cfg.name} is kind "
                             f"{self.cfg.kind!r}, not 'usv'")
        if baud is None:
            baud = conf.baud if conf is not None else 38400
        elif not baud > 0:
            raise ValueError(f"--ais-baud: expected a positive baud rate, got {baud}")
        try:
            self.ais = AisReceiver(source, baud, AisDecoder(own_mmsi=self.mmsi), on_event=self._driver_event)
        except (OSError, ValueError) as e:
            raise ValueError(f"{what}: AIS receiver {source}: {e}") from None
        self.report.ais = (f"{source}" + ("" if source.startswith("udp:") else f" at {baud} baud")
                           + (f", own MMSI {self.mmsi} not a contact" if self.mmsi is not None else ""))

    def _take_ais(self, t: float) -> None:
        """What the AIS receiver decoded since the last call, kept for the next tick's frame."""
        got = self.ais.poll(t)
        if got:
            pending = self._ais_reports
            pending.extend(got)
            if len(pending) > MAX_PENDING_AIS:        # a flood between two ticks: the newest count
                del pending[:-MAX_PENDING_AIS]

    def _driver_event(self, text: str) -> None:
        self.events.append(text)
        log.warning("%s", text)
        if self.endpoint is not None:
            from pymavlink.dialects.v20 import ardupilotmega as mavlink

            sev = mavlink.MAV_SEVERITY_WARNING if ("disconnected" in text or "fault" in text) \
                else mavlink.MAV_SEVERITY_INFO
            self.endpoint.statustext(text, sev)

    def _bring_up(self) -> None:
        """On the warm-up thread: the core's heavy subsystems, then the kernels."""
        t0 = time.perf_counter()
        try:
            self.core.bring_up()
        except Exception as e:     # the core stays not ready: it holds still and refuses to arm
            self.bring_up_error = f"{type(e).__name__}: {e}"
            log.error("start-up failed: %s", self.bring_up_error)
            print(f"start-up failed: {self.bring_up_error}; the vehicle holds still and will not arm", flush=True)
            raise
        self.report.bring_up_s = time.perf_counter() - t0

    def _warm_done(self, rep) -> None:
        self.report.kernel_warm_s = rep.seconds
        self.kernels_ready = True     # the control thread settles the heap at its next tick
        msg = (f"kernels ready: {rep.kernels} kernels, {rep.cache_hits} loaded from cache, {rep.compiled} compiled, "
               f"{rep.seconds:.2f} s" + (f" (planning and perception built in {self.report.bring_up_s:.2f} s first)"
                                          if self.report.bring_up_s else ""))
        for name, err in rep.failed.items():
            log.warning("kernel warm-up failed in %s: %s", name, err)
        print(msg, flush=True)

    def open(self) -> None:
        self._warm_pending = self.warm and self.report.kernel_cache == "hit"
        if self._warm_pending:
            pass  # loaded in the background after the first control tick (see step)
        elif self.warm:
            # Compiling holds the interpreter lock for tens of seconds on a
            # board: on a background thread it would starve the control loop
            # (devices would look lost).  Pay it here, before the first tick.
            from edgepilot.onboard.kernels import warm_all

            print(f"kernel cache {self.report.kernel_cache}: compiling kernels before the control loop starts "
                  f"(run `edgepilot warm` once after installing to skip this)", flush=True)
            self._warm_done(warm_all())
        st = self.drivers.open()
        self.report.drivers = [asdict(s) for s in st]
        if self.ais is not None:
            self.report.drivers.append({"name": "ais", "port": self.ais.url, "connected": self.ais.connected,
                                        "required": False, "detail": ""})
        if self.origin is not None:
            self._build_core(*self.origin)

    def _build_core(self, lat: float, lon: float) -> None:
        from edgepilot.firmware_bridge.mavlink import MavlinkEndpoint, TlogWriter
        from edgepilot.firmware_bridge.mavlink.signing import load_key
        from edgepilot.vehicle.core import VehicleCore
        from edgepilot.onboard.param_file import persisted_params
        from edgepilot.vehicle.params import ParamStore
        from edgepilot.vehicle.types import GeoPoint

        if self.state is not None:
            params = self.state.params(self.cfg, self.params_path)
        elif self.params_path:
            params = persisted_params(self.cfg, self.params_path)
        else:
            params = ParamStore(self.cfg)
        # With the kernels to load in the background, the costmap, planners
        # and perception come up there too (VehicleCore.bring_up), after the
        # loop has started; the core refuses to arm until they have.
        self.core = VehicleCore(self.cfg, GeoPoint(lat, lon), self.prior_map, params,
                                defer_bring_up=self._warm_pending)
        if self.state is not None:
            restored = self.state.restore(self.core)
            print(f"state dir {self.state.folder}: restored {', '.join(restored) or 'nothing saved yet'}",
                  flush=True)
            for text in self.state.dropped:
                print(f"error: {text}", file=sys.stderr, flush=True)
        self._gate_arming(self.core)
        key = None
        if self.cfg.mavlink.signing_key_file:
            key = load_key(Path(self.cfg.mavlink.signing_key_file).expanduser())
        tlog = TlogWriter(self.tlog_path) if self.tlog_path else None
        dialect = None
        if self.v2v is not None:
            from edgepilot.firmware_bridge.mavlink import dialects

            dialect = dialects.load()          # the ground station hands the fleet a task file in our dialect
        self.endpoint = MavlinkEndpoint(self.core, self.report.mavlink, self.cfg.kind,
                                        sysid=int(params.get("SYSID_THISMAV")), compid=1,
                                        vehicle_id=self.cfg.name, signing_key=key, tlog=tlog,
                                        signing_state_path=(self.state.folder / "signing.json"
                                                            if self.state is not None else None),
                                        dialect=dialect)
        if self.v2v is not None:
            from edgepilot.onboard.fleet_auction import FleetAuction

            # the fleet's shared clock is the vehicles' (GPS/NTP-disciplined) wall clock
            self.v2v.sysid = self.endpoint.sysid
            self.auction = FleetAuction(self.core, self.endpoint, self.v2v, period_s=self._fleet[0],
                                        stale_after_s=self._fleet[1], fleet_clock=time.time, lease=self._lease)
            if self.core.maritime is not None:
                from edgepilot.firmware_bridge.fleet_routes import RouteAheadShare
                from edgepilot.vehicle.maritime.mates import DEFAULT_MMSI_BASE

                # a boat: its route ahead to its fleet-mates' COLREGs helms, theirs to its own, on the same link
                mmsi = self.mmsi if self.mmsi is not None else DEFAULT_MMSI_BASE + self.endpoint.sysid
                self.routes = RouteAheadShare(self.core, mmsi, period_s=self._fleet[0], fleet_clock=time.time,
                                              v2v=self.v2v)
                if self.ais is not None and self.ais.decoder.own_mmsi is None:
                    self.ais.decoder.own_mmsi = mmsi     # the MMSI we share our route by is ours on AIS too
        if self.state is not None:
            self.state.attach(self.endpoint)
        waiter = getattr(self.drivers, "arm_waiter", None)
        if waiter is not None:
            # Companion: an operator's arm succeeds only once the autopilot is
            # armed too, else it fails with the autopilot's own reason.
            self.endpoint.command.arm_confirmation = waiter
        self.report.origin = f"{lat:.7f}, {lon:.7f}" + (" (first GPS fix)" if self.origin is None else "")

    def _gate_arming(self, core) -> None:
        """Refuse to arm while the JIT kernels are still loading in the
        background: the first plan would wait for them inside a control tick
        and stall the loop (the loop watchdog would rightly trip).  The
        runtime's own pre-arm check, as ArduPilot refuses to arm during
        initialisation; a forced arm skips it, like the core's checks."""
        def check():
            if self.bring_up_error:
                return f"PreArm: start-up failed ({self.bring_up_error})"
            return None if self.kernels_ready else "PreArm: still loading the planning kernels; try again in a moment"

        core.safety.extra_prearm_checks.append(check)

    # -- the loop's callbacks ---------------------------------------------
    def step(self, t: float, dt: float) -> None:
        """One control tick; an exception in a driver (or anything else of
        the tick outside the core, whose own faults contained_step handles)
        is contained: zero to the motors, HOLD, CRITICAL STATUSTEXT, counted;
        the loop goes on serving MAVLink."""
        try:
            self._step(t, dt)
        except Exception as e:  # noqa: BLE001 - containment is the point
            self._contain(t, "onboard tick (drivers)", e)

    def _log_fault(self, where: str, exc: BaseException) -> None:
        """The traceback of a contained exception to the log, at most once a second."""
        now = time.monotonic()
        if now >= self._next_fault_log:
            self._next_fault_log = now + 1.0
            log.error("contained an exception in %s", where, exc_info=exc)

    def _contain(self, t: float, where: str, exc: BaseException) -> None:
        from edgepilot.vehicle.containment import LAST_RESORT, contain

        self._log_fault(where, exc)
        sp = contain(self.core, t, where, exc) if self.core is not None else LAST_RESORT
        try:
            self.drivers.apply(sp, t)
        except Exception:  # noqa: BLE001 - the motor path itself failed: try its plain stop
            try:
                self.drivers.stop()
            except Exception:  # noqa: BLE001
                log.exception("cannot stop the motors after a contained fault")
        if self.endpoint is not None:
            self.endpoint.last_command = sp

    def _step(self, t: float, dt: float) -> None:
        from edgepilot.vehicle.containment import contained_step
        from edgepilot.vehicle.types import ActuatorCommand, Mode, Setpoint

        d = self.drivers
        if self.kernels_ready and not self._settled:
            self._settle()
        d.poll(t)
        if self.ais is not None:
            self._take_ais(t)
        if self.core is None:
            # No origin yet: wait for the first 3-D fix, motors held at zero.
            fix = d.origin_fix()
            if fix is not None:
                self._build_core(*fix)
            else:
                d.frame(t)
                self._ais_reports.clear()       # no map frame to put them in yet
                d.apply(Setpoint.stop(t), t)
                return
        if self._start_pose_pending:
            # At the first tick: the EKF's clock starts where the IMU's does.
            self._start_pose_pending = False
            x, y, yaw = self.start_pose
            res = self.core.set_start_pose(t, x, y, yaw, START_POSE_STD_M, math.radians(START_YAW_STD_DEG))
            print(f"start pose: {'set' if res.ok else 'REFUSED: ' + res.reason}", flush=True)
        # Judge the links on what was just read, before the core's work: a
        # slow tick must not make a live device look lost.
        missing = d.missing()
        ok = not missing
        frame = d.frame(t)
        if self._ais_reports:           # the vessels heard on AIS, as the simulator hands the core its traffic
            frame = replace(frame, contacts=(frame.contacts or ()) + tuple(self._ais_reports))
            self._ais_reports = []
        sp = contained_step(self.core, t, frame, on_fault=self._log_fault)
        if not ok:
            if not self._held and self.first_tick_at is not None:
                self._driver_event(f"holding: {' and '.join(missing)} lost")
                if self.core.mode not in (Mode.HOLD, Mode.MANUAL):
                    self.core.set_mode(t, Mode.HOLD)
                self._held = True
            sp = Setpoint(t, sp.armed, self.core.mode, actuators=ActuatorCommand(0.0, 0.0, sp.estop))
        elif self._held:
            self._driver_event("all required devices back; vehicle stays in HOLD until an operator resumes")
            self._held = False
        d.apply(sp, t)
        for action in d.actions():      # what the hardware says the core must do (autopilot refused to arm...)
            self.core.apply_action(t, action)
        feed = getattr(d, "external_nav", None)
        if feed is not None:            # companion: the core's pose to the autopilot's EKF
            feed(t, self.core)
        if self.endpoint is not None:
            self.endpoint.last_command = sp
        self.ticks += 1
        if self.first_tick_at is None:
            self.first_tick_at = since_process_start()
            self.report.time_to_first_tick_s = self.first_tick_at
            self._print_report()
        if self._warm_pending:
            # Building the costmap and perception and loading the cached
            # kernels take the interpreter lock for about a second; started
            # earlier they only delay the first tick.
            from edgepilot.onboard.kernels import warm_in_background

            self._warm_pending = False
            warm_in_background(self._warm_done, before=self._bring_up)

    def poll(self, t: float) -> None:
        try:
            self.drivers.poll(t)
            if self.ais is not None:
                self._take_ais(t)
            if self.endpoint is not None:
                self.endpoint.poll(t)
            if self.auction is not None:
                self.auction.poll(t)
            if self.routes is not None:
                self.routes.poll(t)
                for text in self.routes.changes():
                    log.info("%s", text)
            if self.state is not None and self.core is not None:
                self.state.tick(self.core, time.monotonic())
        except Exception as e:  # noqa: BLE001 - containment is the point
            self._contain(t, "onboard I/O poll", e)

    def fds(self) -> list[int]:
        """What the loop waits on between ticks: device ports and MAVLink sockets."""
        out = list(self.drivers.fds())
        if self.endpoint is not None:
            out += self.endpoint.fds()
        if self.v2v is not None:
            out += self.v2v.fds()
        if self.ais is not None and self.ais.fileno() is not None:
            out.append(self.ais.fileno())
        return out

    def _settle(self) -> None:
        """Once start-up is over (kernels loaded): collect, then freeze the
        heap, so later garbage collections only scan objects made while
        running instead of pausing the control loop for the whole start-up
        heap (numpy, numba, pymavlink...).  Timing statistics start after."""
        import gc

        self._settled = True
        gc.collect()
        gc.freeze()
        if self.loop is not None:
            self.loop.measure_from_next_tick()

    def _overrun(self, t: float, late_s: float, missed: int) -> None:
        # The core's loop watchdog sees the gap itself (the late tick runs at
        # the measured time); this is the log line, at most one a second.
        now = time.monotonic()
        if now >= self._next_overrun_log:
            self._next_overrun_log = now + 1.0
            log.warning("control loop overrun: tick %.1f ms late, %d tick(s) skipped", late_s * 1e3, missed)

    def loop_summary(self) -> str:
        """One line of loop timing for the operator (and the benchmark)."""
        lp = self.loop
        if lp is None:
            return "loop: not started"
        st = lp.stats
        tm = st.timing(lp.dt)
        head = (f"loop: {st.ticks} ticks, {st.missed} missed, {st.overruns} overruns, {st.io_wakeups} I/O wake-ups; "
                f"timed {tm['ticks']} ticks{'' if self.kernels_ready else ' (kernels still loading)'}")
        if not tm["ticks"]:
            return head
        j, late, w = tm["jitter_ms"], tm["late_ms"], tm["work_ms"]
        return (head + f"; period jitter p50 {j['p50']:.2f} p99 {j['p99']:.2f} max {j['max']:.2f} ms"
                f", lateness p50 {late['p50']:.2f} p99 {late['p99']:.2f} max {late['max']:.2f} ms"
                f", work p50 {w['p50']:.2f} p99 {w['p99']:.2f} max {w['max']:.2f} ms")

    def _print_report(self) -> None:
        # The file first: whoever waits for the ready line may read it at once.
        try:
            out = Path(self.cfg.hardware.log_dir)
            out.mkdir(parents=True, exist_ok=True)
            (out / "startup.json").write_text(json.dumps(asdict(self.report), indent=2))
        except OSError as e:
            log.warning("cannot write the start-up report to %s: %s", self.cfg.hardware.log_dir, e)
        for line in self.report.lines():
            print(line, flush=True)
        print(f"{READY_PREFIX} after {self.first_tick_at:.3f} s", flush=True)

    def run(self, should_stop, duration: float | None = None) -> None:
        from edgepilot.onboard.loop import RuntimeLoop, ScaledClock

        self.loop = RuntimeLoop(self.step, self.poll, rate_hz=self.cfg.control.rate_hz, clock=ScaledClock(1.0),
                                fds=self.fds, late="skip", on_overrun=self._overrun)
        try:
            self.loop.run(until=duration, should_stop=should_stop)
        finally:
            self.shutdown()

    def shutdown(self) -> None:
        """Motors first, then everything else."""
        try:
            self.drivers.stop()
        finally:
            try:
                if self.endpoint is not None:
                    self.endpoint.close()
                if self.v2v is not None:
                    self.v2v.close()
                if self.ais is not None:
                    self.ais.close()
                self.drivers.close()
            finally:
                if self.state is not None:
                    self.state.close()


def run_vehicle_cli(args) -> int:
    from edgepilot.vehicle.config import ConfigError, load_vehicle_config

    logging.basicConfig(level=logging.INFO if getattr(args, "verbose", False) else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", stream=sys.stderr)
    try:
        cfg = load_vehicle_config(args.config)
        if cfg.hardware is None:
            raise ConfigError(f"{args.config}: hardware: `edgepilot vehicle run` needs a [hardware] table "
                              f"(see configs/vehicles/ugv_hardware.toml and docs/field_guide.md)")
        origin = parse_origin(args.origin) if args.origin else None
        start_pose = parse_start_pose(args.start_pose) if getattr(args, "start_pose", None) else None
        ob = Onboard(cfg, str(args.config), origin=origin, map_path=args.map, mavlink=args.mavlink or None,
                     tlog=args.tlog, params=args.params, warm=not args.no_warm,
                     state_dir=getattr(args, "state_dir", None), v2v=getattr(args, "v2v", None),
                     v2v_peers=getattr(args, "v2v_peer", None),
                     fleet_period_s=getattr(args, "fleet_period", None) or 1.0,
                     fleet_stale_s=getattr(args, "fleet_stale", None) or 10.0,
                     fleet_lease_s=8.0 if getattr(args, "fleet_lease", None) is None else args.fleet_lease,
                     v2v_loss=getattr(args, "v2v_loss", None) or 0.0,
                     v2v_latency_s=getattr(args, "v2v_latency", None) or 0.0, start_pose=start_pose,
                     mmsi=getattr(args, "mmsi", None), ais=getattr(args, "ais", None),
                     ais_baud=getattr(args, "ais_baud", None))
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return EXIT_USAGE
    stop = {"flag": False}

    def on_signal(signum, frame):
        stop["flag"] = True

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    try:
        ob.open()
    except (ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        ob.drivers.close()
        if ob.ais is not None:
            ob.ais.close()
        return EXIT_USAGE
    print(f"edgepilot vehicle: {cfg.name} ({cfg.kind}) starting, config {args.config}", flush=True)
    ob.run(should_stop=lambda: stop["flag"], duration=args.duration)
    c = ob.drivers.counters()
    print("edgepilot vehicle: stopped, motors commanded to zero; "
          + ", ".join(f"{k} {v}" for k, v in c.items()), flush=True)
    print(f"edgepilot vehicle: {ob.loop_summary()}", flush=True)
    if ob.ais is not None:
        print(f"edgepilot vehicle: {ob.ais.summary()}", flush=True)
    if ob.v2v is not None:
        v = ob.v2v.stats()
        print(f"edgepilot vehicle: V2V sent {v['v2v_sent']}, heard {v['v2v_received']}, refused (signing) "
              f"{v['v2v_rejected_signature']}, errors {v['v2v_errors']}"
              + ("" if ob.v2v.impair is None else f", lost (--v2v-loss) {v['v2v_impaired_lost']}, still delayed "
                 f"{len(ob.v2v.impair.queue)}"), flush=True)
    if ob.routes is not None:
        print(f"edgepilot vehicle: V2V {ob.routes.summary()}", flush=True)
    if ob.core is not None and ob.core.internal_errors:
        print(f"edgepilot vehicle: {ob.core.internal_errors} internal error(s) contained, the last: "
              f"{ob.core.last_internal_error}", flush=True)
    return EXIT_OK
