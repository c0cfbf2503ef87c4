"""Path followers drive the cross-track error to zero on the real models."""
import math

import numpy as np

from edgepilot import configs_dir
from edgepilot.sim.dynamics import DiffDriveModel, TwinThrusterModel
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.control.los import LosGuidance
from edgepilot.vehicle.control.path import PolylinePath
from edgepilot.vehicle.control.pure_pursuit import PurePursuit
from edgepilot.vehicle.params import ParamStore
from edgepilot.vehicle.types import VehicleState

UGV = load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml")
USV = load_vehicle_config(configs_dir() / "vehicles" / "usv.toml")


def state_of(m, t) -> VehicleState:
    tr = m.truth
    return VehicleState(t, tr.x, tr.y, tr.yaw, tr.vx, tr.vy, tr.yaw_rate, 0.0, 0.0, 0.0, True)


def test_path_projection_sign_and_arc_length():
    p = PolylinePath(np.array([[0.0, 0.0], [10.0, 0.0], [10.0, 10.0]]))
    assert p.length == 20.0
    pr = p.project(5.0, 1.0)
    assert math.isclose(pr.s, 5.0) and math.isclose(pr.cross_track_error, 1.0)  # left of path: +
    pr = p.project(11.0, 5.0)
    assert math.isclose(pr.s, 15.0) and math.isclose(pr.cross_track_error, -1.0)
    assert p.point_at(12.5) == (10.0, 2.5)


def test_pure_pursuit_converges_onto_a_line_from_two_metres_off():
    m = DiffDriveModel(UGV.drive, 0.0, 2.0, 0.0)
    f = PurePursuit(UGV)
    path = PolylinePath(np.array([[0.0, 0.0], [40.0, 0.0]]))
    ctes = []
    for k in range(2000):
        t = k * 0.05
        cmd, cte = f.command(state_of(m, t), path, 1.2, 0.8, stop_at_end=True)
        for _ in range(5):
            m.step(0.01, cmd)
        ctes.append(cte)
    ctes = np.abs(ctes)
    assert ctes[0] > 1.9
    first_small = int(np.argmax(ctes < 0.05))
    assert 0 < first_small < 200          # within 10 s
    assert ctes[first_small:].max() < 0.1  # and stays there
    assert math.hypot(m.truth.x - 40.0, m.truth.y) < 0.5 and m.truth.speed < 0.05


def test_ilos_holds_the_line_against_a_cross_current():
    params = ParamStore(USV)
    gains = {k: params.get(k) for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI", "LOS_KI")}
    current = (0.0, -0.5)  # setting south, across an eastbound line
    m = TwinThrusterModel(USV.hull, 0.0, 5.0, 0.0)
    g = LosGuidance(USV)
    path = PolylinePath(np.array([[0.0, 0.0], [600.0, 0.0]]))
    ctes = []
    for k in range(3000):
        t = k * 0.1
        cmd, cte = g.command(state_of(m, t), path, 1.5, 8.0, False, gains)
        for _ in range(10):
            m.step(0.01, cmd, current)
        ctes.append(cte)
    ctes = np.array(ctes)
    assert ctes[0] > 4.9
    late = np.abs(ctes[-1000:])
    assert late.max() < 0.5, f"steady cross-track error {late.max():.2f} m"
    # The boat crabs into the current: its heading points up-current of the line.
    assert m.truth.yaw > math.radians(5)


def test_los_without_integral_leaves_a_steady_offset():
    """The integral term is what removes the current-induced offset."""
    params = ParamStore(USV)
    gains = {k: params.get(k) for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI")}
    gains["LOS_KI"] = 0.0
    m = TwinThrusterModel(USV.hull, 0.0, 0.0, 0.0)
    g = LosGuidance(USV)
    path = PolylinePath(np.array([[0.0, 0.0], [600.0, 0.0]]))
    for k in range(2000):
        cmd, cte = g.command(state_of(m, k * 0.1), path, 1.5, 8.0, False, gains)
        for _ in range(10):
            m.step(0.01, cmd, (0.0, -0.5))
    assert cte < -1.0
