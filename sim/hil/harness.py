"""The HIL harness: the simulator plays the hardware (``hardware``), an
unmodified ``edgepilot vehicle run`` process flies the scenario, a ground
station (``ground``) uploads the mission and starts it, and the scenario's
pass criteria (``sim.criteria``, shared with lockstep) decide."""
from __future__ import annotations

import os
import select
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from edgepilot import configs_dir
from edgepilot.onboard.onboard import READY_PREFIX
from edgepilot.sim.criteria import ClearanceMonitor, Measured, check_criteria
from edgepilot.sim.hil.ground import MissionFlight, mavlink_client_url
from edgepilot.sim.hil.hardware import HilHardware
from edgepilot.sim.simulation import Simulation
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.maps import save_map_server
from edgepilot.vehicle.types import Cmd

#: How long the vehicle process may take to report ready (a cold kernel
#: cache compiles before the control loop starts; slow on a loaded machine).
#: The scenario's time limit counts from then.
STARTUP_DEADLINE_S = 300.0

#: The commands whose MISSION_ITEM_REACHED counts as a waypoint reached.
NAV_COMMANDS = frozenset(int(c) for c in (Cmd.NAV_WAYPOINT, Cmd.NAV_LOITER_TIME, Cmd.NAV_LOITER_UNLIM,
                                          Cmd.NAV_RETURN_TO_LAUNCH))


@dataclass
class HilResult:
    passed: bool
    reasons: list[str]
    waypoints_reached: int
    waypoints_total: int
    sim_time_s: float
    collisions: int
    min_clearance_m: float
    vehicle_output: str = ""


def default_hil_config(scenario) -> Path:
    return configs_dir() / "vehicles" / f"{Path(scenario.vehicle).stem}_hil.toml"


def spawn_vehicle(config: Path, map_yaml: Path, origin: tuple[float, float], extra=(), cwd=None):
    """``edgepilot vehicle run`` as a child of the same interpreter (and so
    the same installed edgepilot), output merged and piped."""
    cmd = [sys.executable, "-m", "edgepilot", "vehicle", "run", "--config", str(config), "--map", str(map_yaml),
           "--origin", f"{origin[0]:.9f},{origin[1]:.9f}", *extra]
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    return subprocess.Popen(cmd, cwd=None if cwd is None else str(cwd), env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


class _Output:
    """Non-blocking line reader of the vehicle process's output."""

    def __init__(self, proc, on_text=None):
        self.proc = proc
        self.on_text = on_text
        self.lines: list[str] = []
        self._partial = b""
        if proc is not None and proc.stdout is not None:
            os.set_blocking(proc.stdout.fileno(), False)

    def fileno(self) -> int | None:
        return self.proc.stdout.fileno() if self.proc is not None and self.proc.stdout else None

    def pump(self) -> None:
        if self.fileno() is None:
            return
        try:
            data = os.read(self.fileno(), 65536)
        except BlockingIOError:
            return
        self._partial += data
        *lines, self._partial = self._partial.split(b"\n")
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            self.lines.append(line + "\n")
            if self.on_text:
                self.on_text(line)

    def ready(self) -> bool:
        return any(READY_PREFIX in ln for ln in self.lines)

    def finish(self) -> None:
        """Stop the process (SIGTERM, then SIGKILL) and keep all it said."""
        proc = self.proc
        if proc is None:
            return
        if proc.poll() is None:
            proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=5)
        if proc.stdout is not None:
            os.set_blocking(proc.stdout.fileno(), True)
            rest = self._partial + proc.stdout.buffer.read()
            self.lines.append(rest.decode("utf-8", "replace"))
            proc.stdout.close()


def run_hil(scenario, hil_config: str | Path, seed: int | None = None, work_dir: str | Path | None = None,
            on_text=None, vehicle_args=(), spawn: bool = True) -> HilResult:
    """Fly ``scenario`` with an unmodified ``edgepilot vehicle run`` process
    talking to the simulator through ptys.  Real time: takes as long as the
    mission does (at most the scenario's time limit, counted from when the
    vehicle process reports ready)."""
    hw = load_vehicle_config(hil_config).hardware
    if hw is None:
        raise ValueError(f"{hil_config}: HIL needs a [hardware] table with the pty paths to serve")
    sim = Simulation(scenario, seed)
    work = Path(work_dir) if work_dir else Path(tempfile.mkdtemp(prefix="edgepilot-hil-"))
    work.mkdir(parents=True, exist_ok=True)
    map_yaml = save_map_server(sim.world.prior_map(), work / "site.yaml")
    items = sim.mission_items()
    nav = {it.seq for it in items if it.seq > 0 and it.command in NAV_COMMANDS}
    crit = scenario.criteria
    hwdev = HilHardware(sim, hw)
    proc = spawn_vehicle(Path(hil_config), map_yaml, scenario.world.origin, vehicle_args) if spawn else None
    out = _Output(proc, on_text)
    wall0 = time.monotonic()
    flight = MissionFlight(mavlink_client_url(hw.mavlink[0]), items, nav,
                           on_text=(lambda s: on_text(f"[hil {time.monotonic() - wall0:6.1f} s] {s}"))
                           if on_text else None)
    clearance = ClearanceMonitor()
    reasons: list[str] = []
    t_ready = None
    try:
        if proc is None:
            t_ready = 0.0
            flight.start()
        while True:
            now = time.monotonic() - wall0
            hwdev.step(now)
            out.pump()
            clearance.sample(sim)
            if proc is not None and proc.poll() is not None:
                out.pump()
                reasons.append(f"vehicle process exited with code {proc.returncode}")
                break
            if t_ready is None and out.ready():
                t_ready = now
                flight.start()
            if t_ready is None and now >= STARTUP_DEADLINE_S:
                reasons.append(f"the vehicle process did not report ready within {STARTUP_DEADLINE_S:g} s")
                break
            if flight.done:
                if flight.error:
                    reasons.append(flight.error)
                break
            if t_ready is not None and now - t_ready >= crit.max_time_s:
                break
            fds = hwdev.fds() + ([out.fileno()] if out.fileno() is not None else [])
            select.select(fds, [], [], 0.005)
    finally:
        flight.stop()
        if flight.ident is not None:
            flight.join(timeout=10)
        out.finish()
        hwdev.close()
    reached = len(nav & flight.reached)
    reasons += check_criteria(crit, Measured(
        mission_complete=flight.phase == "complete", waypoints_reached=reached, waypoints_total=len(nav),
        collisions=clearance.collisions, first_collision=clearance.first,
        min_clearance_m=clearance.min_clearance))
    min_clear = clearance.min_clearance
    return HilResult(not reasons, reasons, reached, len(nav), sim.t, clearance.collisions,
                     min_clear if min_clear != float("inf") else 0.0, "".join(out.lines))


def serve_forever(scenario, hil_config, seed=None, should_stop=lambda: False, on_text=print) -> None:
    """``--serve-only``: play the hardware until stopped; the operator starts
    ``edgepilot vehicle run`` and flies it."""
    hw = load_vehicle_config(hil_config).hardware
    sim = Simulation(scenario, seed)
    dev = HilHardware(sim, hw)
    on_text(f"HIL: serving motor {hw.motor.port}, gps {hw.gps.source}"
            + (f", lidar {hw.lidar.port}" if hw.lidar else "") + f" for scenario {scenario.name}")
    wall0 = time.monotonic()
    try:
        while not should_stop():
            dev.step(time.monotonic() - wall0)
            select.select(dev.fds(), [], [], 0.005)
    finally:
        dev.close()
