"""The endurance watch: the drain rate from battery readings, the time
left above the reserve, and the route-and-return time it is compared with."""
import math

import numpy as np
import pytest

from edgepilot.vehicle.fleet.costs import fleet_costs, straight_line_matrix
from edgepilot.vehicle.fleet.energy import EnduranceParams, EnduranceWatch, route_and_return_s
from edgepilot.vehicle.fleet.tasks import parse_tasks


def test_drain_rate_and_time_left_follow_the_readings():
    w = EnduranceWatch(EnduranceParams(window_s=10.0, reserve=0.3, margin=1.3))
    assert w.drain_per_s() is None and w.left_s() == math.inf and w.covers(1e9)
    rng = np.random.default_rng(0)
    for k in range(40):                            # 0.1 %/s for 20 s, then 1 %/s
        t = 0.5 * k
        w.add(t, 1.0 - 0.001 * t + 1e-4 * rng.standard_normal())
    assert w.drain_per_s() == pytest.approx(0.001, abs=2e-4)
    r0 = 1.0 - 0.001 * 19.5
    for k in range(1, 41):
        t = 19.5 + 0.5 * k
        w.add(t, r0 - 0.01 * (t - 19.5))
    assert w.drain_per_s() == pytest.approx(0.01, rel=1e-6)      # only the last 10 s count
    left = (r0 - 0.01 * 20.0 - 0.3) / 0.01
    assert w.left_s() == pytest.approx(left)
    assert w.covers(left / 1.3 - 0.1) and not w.covers(left / 1.3 + 0.1)
    w.add(41.0, None)                               # no reading: ignored
    w.add(41.0, float("nan"))
    assert w.left_s() == pytest.approx(left)


def test_charging_or_steady_battery_never_asks_to_withdraw():
    w = EnduranceWatch()
    for k in range(30):
        w.add(float(k), 0.5 + 0.001 * k)
    assert w.drain_per_s() == 0.0 and w.left_s() == math.inf and w.covers(1e6)


def test_route_and_return_time():
    tf = parse_tasks({"vehicle": [{"name": "v", "sysid": 1, "domain": "land", "start": [0.0, 0.0], "speed": 2.0}],
                      "task": [{"id": "a", "kind": "visit", "position": [10.0, 0.0], "service_s": 5.0},
                               {"id": "b", "kind": "visit", "position": [10.0, 20.0], "service_s": 3.0}]})
    c = fleet_costs(list(tf.task), list(tf.vehicle), lambda d, s, t: straight_line_matrix(s, t))
    # 4 s to a, 5 s there, 10 s to b, 3 s there, hypot(10, 20) / 2 s home
    assert route_and_return_s(c, 0, [0, 1], 4.0) == pytest.approx(4 + 5 + 10 + 3 + math.hypot(10, 20) / 2)
    assert route_and_return_s(c, 0, [], 7.5) == 7.5


def test_bad_parameters_are_named():
    with pytest.raises(ValueError, match="EnduranceParams.reserve must be in"):
        EnduranceParams(reserve=1.2)
    with pytest.raises(ValueError, match="EnduranceParams.margin must be >= 1"):
        EnduranceParams(margin=0.5)
