"""Path followers drive the cross-track error to zero on the real models."""
import math

import numpy as np
import pytest

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


USV_FLEET = load_vehicle_config(configs_dir() / "vehicles" / "usv_fleet.toml")


def _arc_path(radius: float, turn_deg: float, lead: float = 15.0, tail: float = 25.0, step: float = 0.707):
    """A straight, a left arc of ``radius`` through ``turn_deg`` sampled
    every ``step`` metres (as Hybrid-A* gives it), a straight."""
    pts = [[0.0, 0.0], [lead, 0.0]]
    turn = math.radians(turn_deg)
    n = int(math.ceil(turn * radius / step))
    for k in range(1, n + 1):
        a = turn * k / n
        pts.append([lead + radius * math.sin(a), radius * (1 - math.cos(a))])
    pts.append([pts[-1][0] + tail * math.cos(turn), pts[-1][1] + tail * math.sin(turn)])
    return PolylinePath(np.array(pts))


def test_path_turns_give_an_arcs_curvature_and_spread_a_corner():
    p = _arc_path(4.0, 135.0)
    s, k, span = p.turns()
    inside = (s > 15.5) & (s < 15.0 + 4.0 * math.radians(135.0) - 0.5)
    assert np.allclose(k[inside], 0.25, rtol=0.02)          # left: positive
    assert np.abs(k[s < 14.0]).max(initial=0.0) == 0.0
    corner = PolylinePath(np.array([[0.0, 0.0], [20.0, 0.0], [20.0, -20.0]]))
    s, k, span = corner.turns()
    assert s.tolist() == [20.0] and span[0] == PolylinePath.CORNER_SPREAD_M
    assert k[0] == pytest.approx(-math.pi / 2 / PolylinePath.CORNER_SPREAD_M)   # right


def test_speed_for_turns_brakes_before_an_arc_and_holds_the_turn_speed_in_it():
    g = LosGuidance(USV_FLEET)
    p = _arc_path(4.0, 135.0)
    v_turn = float(g.turn_speed(0.25))
    assert v_turn < 1.5                                           # slower than cruise for a 4 m turn
    assert g.speed_for_turns(p, 16.0, 1.5) == pytest.approx(v_turn, rel=0.01)
    a = USV_FLEET.limits.max_accel
    d = 5.0                                                       # 5 m before the arc begins
    assert g.speed_for_turns(p, 15.0 - d - 0.36, 1.5) == pytest.approx(
        min(1.5, math.sqrt(v_turn ** 2 + 2 * a * d)), rel=0.05)
    assert g.speed_for_turns(p, 0.0, 1.5) == 1.5                  # far enough to brake: cruise
    assert g.speed_for_turns(p, p.length - 5.0, 1.5) == 1.5       # past the turn
    assert g.speed_for_turns(PolylinePath(np.array([[0.0, 0.0], [50.0, 0.0]])), 0.0, 1.5) == 1.5


def _fly_arc(radius, turn_deg, speed=1.5):
    params = ParamStore(USV_FLEET)
    gains = {k: params.get(k) for k in ("HDG_KP", "HDG_KD", "SPD_KP", "SPD_KI", "LOS_KI")}
    m = TwinThrusterModel(USV_FLEET.hull, 0.0, 0.0, 0.0)
    m.u = speed
    g = LosGuidance(USV_FLEET)
    p = _arc_path(radius, turn_deg)
    ctes, us = [], []
    for k in range(900):
        cmd, cte = g.command(state_of(m, k * 0.1), p, speed, 8.0, False, gains)
        for _ in range(10):
            m.step(0.01, cmd)
        ctes.append(cte)
        us.append(m.u)
        if g.s > p.length - 5.0:
            break
    return np.array(ctes), np.array(us), g.s, p


@pytest.mark.parametrize("radius, turn_deg", [(4.0, 90.0), (4.0, 135.0), (4.0, 180.0), (6.0, 180.0)])
def test_the_helm_flies_the_planned_arc(radius, turn_deg):
    """A boat at 1.5 m/s meeting a planned arc of the fleet boat's 4 m
    turning radius: it slows for it and holds the arc (yaw-rate and
    sideslip feed-forward) -- without them it swung 3.8 m outside."""
    ctes, us, s_end, p = _fly_arc(radius, turn_deg)
    assert s_end > p.length - 5.0                                   # it got round
    assert -ctes.min() < 1.2, f"{-ctes.min():.2f} m outside the arc"   # outside: cte < 0 on a left turn
    assert ctes.max() < 1.2, f"{ctes.max():.2f} m inside the arc"
    assert us.min() < 1.3                                            # it slowed for the turn
    assert us[-1] > 1.4                                              # and is back to cruise after it


def test_rejoin_track_swings_wide_of_the_straight_line_back():
    """After a COLREGs manoeuvre the rejoin is checked along the track the
    boat will sweep (vehicle/modes/navigation.py): heading away from the
    path, it first carries on and turns at its planned rate -- well outside
    the straight line to the path."""
    from types import SimpleNamespace

    from edgepilot.vehicle.modes.navigation import Navigator
    g = LosGuidance(USV_FLEET)
    g.s = 10.0
    st = VehicleState(0.0, 10.0, 8.0, math.pi / 2, 0.0, 1.5, 0.0, 0.0, 0.0, 0.0, True)
    nav = Navigator(SimpleNamespace(follower=g, state=st))
    nav.path = PolylinePath(np.array([[0.0, 0.0], [100.0, 0.0]]))
    tr = nav.rejoin_track(8.0)
    assert tr[0].tolist() == [10.0, 8.0]
    assert tr[:, 1].max() > 8.0 + 0.8 * 1.5 / g.turn_rate         # carried on north while turning (radius v / rate)
    assert abs(tr[-1, 1]) < 1.0                                      # and came back to the path
    step = np.hypot(*np.diff(tr, axis=0).T)
    assert np.allclose(step, 0.5)
    heading = np.unwrap(np.arctan2(*np.diff(tr, axis=0).T[::-1]))
    assert np.abs(np.diff(heading)).max() <= g.turn_rate * 0.5 / 1.5 + 1e-9
    nav.path = None
    assert nav.rejoin_track(8.0).shape == (0, 2)


def _pure_pursuit_with_min_max(cfg, f, state, path, speed, lookahead, stop_at_end):
    """PurePursuit.command as first written, with min()/max(): the oracle
    for the spelt-out comparisons the per-tick version uses."""
    f.s, cte, tx, ty = path.follow(state.x, state.y, f.s, max(3.0 * lookahead, 5.0), lookahead)
    dist_end = math.hypot(path.end_x - state.x, path.end_y - state.y)
    alpha = (math.atan2(ty - state.y, tx - state.x) - state.yaw + math.pi) % (2.0 * math.pi) - math.pi
    lim = cfg.limits
    v = min(speed, lim.max_speed)
    if stop_at_end:
        v = min(v, math.sqrt(2.0 * 0.5 * lim.max_accel * max(dist_end - 0.1, 0.0)) + 0.1)
    if abs(alpha) > math.radians(60.0):
        v = 0.0
        w = math.copysign(min(lim.max_yaw_rate, 2.0 * abs(alpha)), alpha)
    else:
        ld = max(math.hypot(tx - state.x, ty - state.y), 1e-3)
        kappa = 2.0 * math.sin(alpha) / ld
        if abs(kappa) > 1e-6:
            v = min(v, lim.max_yaw_rate / abs(kappa))
        w = max(-lim.max_yaw_rate, min(lim.max_yaw_rate, v * kappa))
    d = cfg.drive
    vl, vr = v - w * 0.5 * d.track_width, v + w * 0.5 * d.track_width
    m = max(abs(vl), abs(vr))
    if m > d.wheel_max_speed:
        vl, vr = vl * d.wheel_max_speed / m, vr * d.wheel_max_speed / m
    return (vl / d.wheel_max_speed, vr / d.wheel_max_speed), cte


def test_pure_pursuit_gives_the_min_max_floats_also_for_nan_and_inf():
    rng = np.random.default_rng(7)
    special = [math.nan, math.inf, -math.inf, 0.0, -0.0, 1e-300, 1e300]
    paths = [PolylinePath(np.array([[0.0, 0.0], [40.0, 3.0]])), PolylinePath(rng.normal(0, 10, (6, 2)))]
    f, ref = PurePursuit(UGV), PurePursuit(UGV)
    with np.errstate(all="ignore"):
        for i in range(3000):
            xyz = [float(v) for v in rng.normal(0, 20, 3)]
            if i % 3 == 0:
                xyz[i % 9 // 3] = special[i % len(special)]
            st = VehicleState(0.0, *xyz, 0.0, 0.0, 0.0, 0.0, 0.0, 0.1, True)
            la = special[i % 7] if i % 5 == 0 else float(rng.uniform(0.01, 5.0))
            speed = special[i % 7] if i % 4 == 0 else float(rng.uniform(0.0, 3.0))
            path, stop = paths[i % 2], bool(i % 2)
            f.s = ref.s = float(rng.uniform(0.0, 40.0))
            cmd, cte = f.command(st, path, speed, la, stop)
            want = _pure_pursuit_with_min_max(UGV, ref, st, path, speed, la, stop)
            assert repr(((cmd.left, cmd.right), cte, f.s)) == repr((*want, ref.s))


def test_pure_pursuit_config_is_read_only():
    # command() and wheels() use the limits and chassis constants taken at
    # construction: the config cannot be swapped under them
    f = PurePursuit(UGV)
    assert f.cfg is UGV
    with pytest.raises(AttributeError):
        f.cfg = UGV
    assert f._limits == (UGV.limits.max_speed, UGV.limits.max_accel, UGV.limits.max_yaw_rate)
    assert f._drive == (UGV.drive.track_width, UGV.drive.wheel_max_speed)
