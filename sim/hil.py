"""Hardware-in-the-loop: the simulator plays the vehicle's hardware on
pseudo-terminals, speaking the real byte protocols.

``PtyDevice`` is one serial device: a pty pair whose slave path (or a stable
symlink to it, as udev gives real devices) is what the vehicle process opens
with pyserial.  It can be unplugged (pty closed, symlink removed) and
re-plugged (a new pty behind the same symlink).
"""
from __future__ import annotations

import errno
import os
import tty
from pathlib import Path


class PtyDevice:
    """The device end of a pseudo-terminal.  Non-blocking: ``read`` returns
    what the host wrote (b"" if nothing), ``write`` drops what the kernel
    buffer cannot take (counted in ``tx_dropped``), as a UART overflows."""

    def __init__(self, link: str | os.PathLike | None = None):
        self.link = Path(link) if link is not None else None
        self.master: int | None = None
        self._slave: int | None = None
        self.slave_name = ""
        self.tx_dropped = 0
        self.plug()

    @property
    def path(self) -> str:
        """What the host opens: the stable symlink if one was asked for."""
        return str(self.link) if self.link is not None else self.slave_name

    @property
    def plugged(self) -> bool:
        return self.master is not None

    def plug(self) -> None:
        if self.master is not None:
            return
        master, slave = os.openpty()
        # Raw from the start: no echo, no CR/LF translation, binary safe even
        # before the host opens the port and configures it.
        tty.setraw(slave)
        tty.setraw(master)
        os.set_blocking(master, False)
        self.master, self._slave = master, slave
        self.slave_name = os.ttyname(slave)
        if self.link is not None:
            tmp = self.link.with_name(self.link.name + ".tmp")
            if tmp.is_symlink() or tmp.exists():
                tmp.unlink()
            os.symlink(self.slave_name, tmp)
            os.replace(tmp, self.link)

    def unplug(self) -> None:
        """Close the pty: the host's next read fails, as when a USB cable is pulled."""
        if self.link is not None and self.link.is_symlink():
            self.link.unlink()
        for fd in (self.master, self._slave):
            if fd is not None:
                os.close(fd)
        self.master = self._slave = None

    def replug(self) -> None:
        self.unplug()
        self.plug()

    def read(self, n: int = 65536) -> bytes:
        if self.master is None:
            return b""
        try:
            return os.read(self.master, n)
        except BlockingIOError:
            return b""
        except OSError as e:
            if e.errno in (errno.EIO, errno.EAGAIN):
                return b""
            raise

    def write(self, data: bytes) -> bool:
        if self.master is None or not data:
            return False
        try:
            n = os.write(self.master, data)
        except BlockingIOError:
            self.tx_dropped += 1
            return False
        except OSError as e:
            if e.errno == errno.EIO:
                return False
            raise
        if n < len(data):
            self.tx_dropped += 1
            return False
        return True

    def fileno(self) -> int | None:
        return self.master

    def close(self) -> None:
        self.unplug()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


# ---------------------------------------------------------------------------
# The simulated vehicle's hardware on ptys
# ---------------------------------------------------------------------------
import math as _math
import socket as _socket
import time as _time
from dataclasses import dataclass as _dataclass

import numpy as _np


class HilHardware:
    """A ``Simulation`` whose motor controller, GPS and lidar are reachable
    only through their real byte protocols, at the device paths of a vehicle
    config's ``[hardware]`` table.

    ``step(now)`` (``now``: seconds of simulated time, which HIL keeps equal
    to wall time since start) reads what the vehicle sent, advances physics
    under the motor command the emulated board is applying, and sends the
    sensor data that fell due."""

    def __init__(self, sim, hw, utc_start_s: float = 12 * 3600.0):
        from edgepilot.firmware_bridge.lidar_ld06 import Ld06Emulator
        from edgepilot.firmware_bridge.motor import MotorDevice

        if hw is None or hw.wiring != "direct":
            raise ValueError("HIL needs a vehicle config with [hardware] wiring = \"direct\"")
        self.sim = sim
        self.hw = hw
        self.utc0 = utc_start_s
        self.devices: list[PtyDevice] = []
        for p in [hw.motor.port] + ([hw.gps.source] if not hw.gps.source.startswith("udp://") else []) + \
                 ([hw.lidar.port] if hw.lidar else []):
            if "://" in p:
                raise ValueError(f"HIL serves devices on pseudo-terminals: {p!r} must be a file path")
            Path(p).parent.mkdir(parents=True, exist_ok=True)
        self.motor_pty = PtyDevice(hw.motor.port)
        self.devices.append(self.motor_pty)
        self.motor = MotorDevice(self._sense)
        self.gps_pty: PtyDevice | None = None
        self.gps_udp: tuple[_socket.socket, tuple[str, int]] | None = None
        if hw.gps.source.startswith("udp://"):
            from edgepilot.firmware_bridge.gps_nmea import parse_udp_url

            host, port = parse_udp_url(hw.gps.source)
            self.gps_udp = (_socket.socket(_socket.AF_INET, _socket.SOCK_DGRAM),
                            ("127.0.0.1" if host in ("", "0.0.0.0") else host, port))
        else:
            self.gps_pty = PtyDevice(hw.gps.source)
            self.devices.append(self.gps_pty)
        self.lidar_pty: PtyDevice | None = None
        self.lidar: Ld06Emulator | None = None
        self._scan = None
        if hw.lidar is not None:
            self.lidar_pty = PtyDevice(hw.lidar.port)
            self.devices.append(self.lidar_pty)
            self.lidar = Ld06Emulator(self._lidar_ranges)
            self._mount = _math.radians(hw.lidar.mount_yaw_deg)
        self._heading = _math.pi / 2 - sim.truth.yaw
        self._enc = [0.0, 0.0]
        self.ticks_per_m = 1000.0

    # -- device-side sensing ---------------------------------------------
    def _sense(self):
        from edgepilot.firmware_bridge.motor import DeviceSense

        sim = self.sim
        tr = sim.truth
        m = sim.model
        vl, vr = (getattr(m, "vl", 0.0), getattr(m, "vr", 0.0))
        bat = sim.battery
        return DeviceSense(enc_left=int(self._enc[0] * self.ticks_per_m), enc_right=int(self._enc[1] * self.ticks_per_m),
                           speed_left=vl, speed_right=vr, battery_v=bat.voltage, battery_a=0.0,
                           battery_remaining=bat.remaining, heading=self._heading % (2 * _math.pi),
                           yaw_rate=tr.yaw_rate)

    def _lidar_ranges(self, sensor_cw):
        if self._scan is None:
            return _np.full(len(sensor_cw), _np.inf)
        from edgepilot.firmware_bridge.lidar_ld06 import scan_lookup

        return scan_lookup(self._scan, self._mount)(sensor_cw)

    # -- one step ----------------------------------------------------------
    def step(self, now: float) -> None:
        from edgepilot.sim.simulation import PHYSICS_DT
        from edgepilot.firmware_bridge.gps_nmea import nmea_epoch
        from edgepilot.vehicle.types import ActuatorCommand

        sim = self.sim
        self.motor.receive(self.motor_pty.read(), now)
        tx = bytearray()
        while sim.t + PHYSICS_DT <= now + 1e-9:
            tx += self.motor.tick(sim.t)    # the board's watchdog runs on the same clock as physics
            a = self.motor.applied
            sim.step(PHYSICS_DT, ActuatorCommand(a.left, a.right))
            m = sim.model
            self._enc[0] += getattr(m, "vl", 0.0) * PHYSICS_DT
            self._enc[1] += getattr(m, "vr", 0.0) * PHYSICS_DT
        frame = sim.sensors(sim.t)
        if frame.compass is not None:
            self._heading = _math.pi / 2 - frame.compass.yaw
        if getattr(frame, "scan", None) is not None:
            self._scan = frame.scan
        tx += self.motor.tick(sim.t)
        if tx:
            self.motor_pty.write(bytes(tx))
        fix = frame.gps
        if fix is not None:
            data = nmea_epoch(self.utc0 + sim.t, fix.lat, fix.lon, fix.vel_e, fix.vel_n,
                              fix_quality=1 if fix.fix_type >= 3 else 0, satellites=fix.satellites,
                              sigma_m=fix.hacc)
            if self.gps_pty is not None:
                self.gps_pty.write(data)
            else:
                sock, addr = self.gps_udp
                for line in data.split(b"\r\n"):
                    if line:
                        sock.sendto(line + b"\r\n", addr)
        if self.lidar is not None:
            self.lidar_pty.write(self.lidar.tick(sim.t))

    def fds(self) -> list[int]:
        return [d.fileno() for d in self.devices if d.fileno() is not None]

    def close(self) -> None:
        for d in self.devices:
            d.close()
        if self.gps_udp is not None:
            self.gps_udp[0].close()


# ---------------------------------------------------------------------------
# A minimal ground station (pymavlink) to fly the scenario's mission
# ---------------------------------------------------------------------------
class HilGroundStation:
    """Uploads the mission, arms and starts AUTO over MAVLink, and listens
    for MISSION_ITEM_REACHED — what an operator's ground station does."""

    def __init__(self, url: str, timeout: float = 30.0):
        from pymavlink import mavutil

        self.m = mavutil.mavlink_connection(url, source_system=255, source_component=190, autoreconnect=True)
        self.reached: set[int] = set()
        self.texts: list[str] = []
        hb = self.m.wait_heartbeat(timeout=timeout)
        if hb is None:
            raise TimeoutError(f"no HEARTBEAT from the vehicle on {url} within {timeout:g} s")
        self.target = (self.m.target_system, self.m.target_component or 1)

    def _handle(self, msg) -> None:
        t = msg.get_type()
        if t == "MISSION_ITEM_REACHED":
            self.reached.add(int(msg.seq))
        elif t == "STATUSTEXT":
            self.texts.append(msg.text)

    def drain(self, timeout: float = 0.0):
        out = []
        while True:
            # pymavlink's recv_match returns at once without reading when
            # timeout=0, so a non-blocking read must pass timeout=None.
            msg = self.m.recv_match(blocking=timeout > 0, timeout=timeout if timeout > 0 else None)
            if msg is None:
                return out
            self._handle(msg)
            out.append(msg)
            timeout = 0.0

    def wait(self, types: set[str], cond, timeout: float):
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            msg = self.m.recv_match(blocking=True, timeout=0.2)
            if msg is None:
                continue
            self._handle(msg)
            if msg.get_type() in types and cond(msg):
                return msg
        return None

    def heartbeat(self) -> None:
        from pymavlink import mavutil

        self.m.mav.heartbeat_send(mavutil.mavlink.MAV_TYPE_GCS, mavutil.mavlink.MAV_AUTOPILOT_INVALID, 0, 0, 0)

    def upload_mission(self, items, timeout: float = 10.0) -> None:
        M = self.m.mav
        ts, tc = self.target
        M.mission_count_send(ts, tc, len(items), 0)
        sent = set()
        deadline = _time.monotonic() + timeout
        while _time.monotonic() < deadline:
            msg = self.wait({"MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"}, lambda m: True, 1.0)
            if msg is None:
                continue
            if msg.get_type() == "MISSION_ACK":
                if msg.type != 0:
                    raise RuntimeError(f"mission upload refused: MAV_MISSION_RESULT {msg.type}")
                return
            it = items[msg.seq]
            M.mission_item_int_send(ts, tc, it.seq, it.frame, it.command, 1 if it.seq == 0 else 0,
                                    it.autocontinue, it.param1, it.param2, it.param3, it.param4,
                                    int(round(it.lat * 1e7)), int(round(it.lon * 1e7)), it.alt, 0)
            sent.add(msg.seq)
        raise TimeoutError(f"mission upload did not finish within {timeout:g} s ({len(sent)}/{len(items)} sent)")

    def command(self, cmd: int, *params, timeout: float = 2.0) -> int | None:
        ts, tc = self.target
        p = list(params) + [0.0] * (7 - len(params))
        self.m.mav.command_long_send(ts, tc, cmd, 0, *p)
        ack = self.wait({"COMMAND_ACK"}, lambda m: m.command == cmd, timeout)
        return None if ack is None else int(ack.result)

    def close(self) -> None:
        self.m.close()


@_dataclass
class HilResult:
    passed: bool
    reasons: list[str]
    waypoints_reached: int
    waypoints_total: int
    sim_time_s: float
    collisions: int
    min_clearance_m: float
    vehicle_output: str = ""


def _spawn_vehicle(config: Path, map_yaml: Path, origin: tuple[float, float], extra=()):
    import os
    import subprocess
    import sys

    root = Path(__file__).resolve().parent.parent
    cmd = [sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(config), "--map", str(map_yaml),
           "--origin", f"{origin[0]:.9f},{origin[1]:.9f}", *extra]
    env = dict(os.environ)
    env["PYTHONPATH"] = str(root) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["PYTHONUNBUFFERED"] = "1"
    return subprocess.Popen(cmd, cwd=str(root), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


def _mavlink_client_url(spec: str) -> str:
    kind, _, rest = spec.partition(":")
    host, _, port = rest.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    if kind == "tcpin":
        return f"tcp:{host}:{port}"
    if kind == "udpout":
        return f"udpin:{host}:{port}"
    if kind == "udpin":
        return f"udpout:{host}:{port}"
    raise ValueError(f"HIL cannot connect a ground station to the vehicle endpoint {spec!r}")


def run_hil(scenario, hil_config: str | Path, seed: int | None = None, work_dir: str | Path | None = None,
            on_text=None, vehicle_args=(), spawn: bool = True) -> HilResult:
    """Fly ``scenario`` with an unmodified ``edgepilot vehicle run`` process
    talking to the simulator through ptys.  Real time: takes as long as the
    mission does."""
    import os
    import select
    import tempfile

    from edgepilot.onboard.onboard import READY_PREFIX

    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.config import load_vehicle_config
    from edgepilot.vehicle.maps import save_map_server
    from edgepilot.vehicle.types import Cmd

    hcfg = load_vehicle_config(hil_config)
    hw = hcfg.hardware
    if hw is None:
        raise ValueError(f"{hil_config}: HIL needs a [hardware] table with the pty paths to serve")
    sim = Simulation(scenario, seed)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="edgepilot-hil-"))
    work.mkdir(parents=True, exist_ok=True)
    map_yaml = save_map_server(sim.world.prior_map(), work / "site.yaml")
    items = sim.mission_items()
    nav = {it.seq for it in items if it.seq > 0 and it.command in
           (int(Cmd.NAV_WAYPOINT), int(Cmd.NAV_LOITER_TIME), int(Cmd.NAV_LOITER_UNLIM), int(Cmd.NAV_RETURN_TO_LAUNCH))}
    crit = scenario.criteria
    hwdev = HilHardware(sim, hw)
    proc = _spawn_vehicle(Path(hil_config), map_yaml, scenario.world.origin, vehicle_args) if spawn else None
    out_lines: list[str] = []
    gcs = None
    reasons: list[str] = []
    collisions, in_coll, min_clear = 0, False, float("inf")
    wall0 = _time.monotonic()
    state = {"phase": "connect", "next_hb": 0.0, "next_try": 0.0}

    partial = {"buf": b""}
    if proc is not None and proc.stdout is not None:
        os.set_blocking(proc.stdout.fileno(), False)

    def pump_vehicle_output():
        if proc is None or proc.stdout is None:
            return
        try:
            data = os.read(proc.stdout.fileno(), 65536)
        except BlockingIOError:
            return
        partial["buf"] += data
        *lines, partial["buf"] = partial["buf"].split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            out_lines.append(line + "\n")
            if on_text:
                on_text(line)

    try:
        import threading

        gcs_box: dict = {}

        def connect():
            try:
                gcs_box["gcs"] = HilGroundStation(_mavlink_client_url(hw.mavlink[0]), timeout=60.0)
            except Exception as e:      # reported below as a failure reason
                gcs_box["error"] = e

        th = threading.Thread(target=connect, daemon=True)
        if proc is None:
            th.start()
        else:
            state["phase"] = "wait_ready"
        limit = crit.max_time_s
        while True:
            now = _time.monotonic() - wall0
            hwdev.step(now)
            pump_vehicle_output()
            clear, hit = sim.clearance()
            if hit and not in_coll:
                collisions += 1
            in_coll = hit
            min_clear = min(min_clear, clear)
            if proc is not None and proc.poll() is not None:
                pump_vehicle_output()
                reasons.append(f"vehicle process exited with code {proc.returncode}")
                break
            if state["phase"] == "wait_ready" and any(READY_PREFIX in ln for ln in out_lines):
                state["phase"] = "connect"
                th.start()
            if state["phase"] == "connect" and not th.is_alive():
                if "error" in gcs_box:
                    reasons.append(str(gcs_box["error"]))
                    break
                gcs = gcs_box["gcs"]
                gcs.upload_mission(items)
                state["phase"] = "arm"
            if gcs is not None:
                gcs.drain()
                if now >= state["next_hb"]:
                    gcs.heartbeat()
                    state["next_hb"] = now + 1.0
                if state["phase"] == "arm" and now >= state["next_try"]:
                    state["next_try"] = now + 0.5
                    from pymavlink import mavutil

                    if gcs.command(mavutil.mavlink.MAV_CMD_COMPONENT_ARM_DISARM, 1, timeout=0.3) == 0:
                        if gcs.command(mavutil.mavlink.MAV_CMD_DO_SET_MODE, 1, 10, timeout=1.0) == 0:
                            state["phase"] = "auto"
                            if on_text:
                                on_text(f"[hil {now:6.1f} s] armed, AUTO")
                if state["phase"] == "auto" and nav <= gcs.reached:
                    break
            if now >= limit:
                break
            fds = hwdev.fds() + ([proc.stdout.fileno()] if proc is not None and proc.stdout else [])
            select.select(fds, [], [], 0.005)
    finally:
        if proc is not None:
            if proc.poll() is None:
                proc.terminate()
            try:
                proc.wait(timeout=10)
            except Exception:
                proc.kill()
                proc.wait(timeout=5)
            os.set_blocking(proc.stdout.fileno(), True)
            rest = partial["buf"] + proc.stdout.buffer.read() if proc.stdout else b""
            out_lines.append(rest.decode("utf-8", "replace"))
            proc.stdout.close()
        if gcs is not None:
            gcs.close()
        hwdev.close()
    reached = len(nav & (gcs.reached if gcs else set()))
    if crit.all_waypoints and reached < len(nav):
        reasons.append(f"mission not complete: {reached}/{len(nav)} waypoints reached within {crit.max_time_s:g} s")
    if crit.no_collision and collisions:
        reasons.append(f"{collisions} collision(s)")
    if min_clear < crit.min_clearance_m:
        reasons.append(f"minimum clearance {min_clear:.2f} m is below the required {crit.min_clearance_m:.2f} m")
    return HilResult(not reasons, reasons, reached, len(nav), sim.t, collisions,
                     min_clear if _math.isfinite(min_clear) else 0.0, "".join(out_lines))


def default_hil_config(scenario) -> Path:
    from edgepilot import configs_dir

    return configs_dir() / "vehicles" / f"{Path(scenario.vehicle).stem}_hil.toml"


def serve_forever(scenario, hil_config, seed=None, should_stop=lambda: False, on_text=print) -> None:
    """``--serve-only``: play the hardware until stopped; the operator starts
    ``edgepilot vehicle run`` and flies it."""
    import select

    from edgepilot.sim.simulation import Simulation
    from edgepilot.vehicle.config import load_vehicle_config

    hw = load_vehicle_config(hil_config).hardware
    sim = Simulation(scenario, seed)
    dev = HilHardware(sim, hw)
    on_text(f"HIL: serving motor {hw.motor.port}, gps {hw.gps.source}"
            + (f", lidar {hw.lidar.port}" if hw.lidar else "") + f" for scenario {scenario.name}")
    wall0 = _time.monotonic()
    try:
        while not should_stop():
            dev.step(_time.monotonic() - wall0)
            select.select(dev.fds(), [], [], 0.005)
    finally:
        dev.close()


def run_hil_cli(args) -> int:
    import signal
    import sys

    from edgepilot.sim.scenario import load_scenario
    from edgepilot.vehicle.config import ConfigError

    try:
        sc = load_scenario(args.scenario)
        cfg_path = Path(args.hil_config) if args.hil_config else default_hil_config(sc)
        if not cfg_path.exists():
            raise ConfigError(f"--hil-config: no file {str(cfg_path)!r}")
    except ConfigError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    if args.serve_only:
        stop = {"flag": False}
        signal.signal(signal.SIGTERM, lambda s, f: stop.__setitem__("flag", True))
        signal.signal(signal.SIGINT, lambda s, f: stop.__setitem__("flag", True))
        try:
            serve_forever(sc, cfg_path, args.seed, lambda: stop["flag"])
        except (ConfigError, ValueError, OSError) as e:
            print(f"error: {e}", file=sys.stderr)
            return 2
        return 0
    quiet = getattr(args, "quiet", False)
    print(f"edgepilot HIL: {sc.name}, vehicle process on {cfg_path}", flush=True)
    try:
        res = run_hil(sc, cfg_path, seed=args.seed, on_text=None if quiet else (lambda s: print("  " + s, flush=True)))
    except (ConfigError, ValueError, OSError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    print(f"result              {'PASS' if res.passed else 'FAIL'}")
    print(f"waypoints reached   {res.waypoints_reached}/{res.waypoints_total}")
    print(f"sim time            {res.sim_time_s:.1f} s")
    print(f"collisions          {res.collisions}")
    print(f"min clearance       {res.min_clearance_m:.2f} m")
    for r in res.reasons:
        print(f"FAIL reason: {r}")
    return 0 if res.passed else 1
