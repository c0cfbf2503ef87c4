"""A vehicle core fed synthetic sensor frames, for the safety unit tests."""
from __future__ import annotations

import numpy as np

from edgepilot import configs_dir
from edgepilot.vehicle.config import load_vehicle_config
from edgepilot.vehicle.core import VehicleCore
from edgepilot.vehicle.types import CompassReading, GeoPoint, GpsFix, LaserScan, Mode, MotorStatus, SensorFrame

UGV = load_vehicle_config(configs_dir() / "vehicles" / "ugv.toml")
ORIGIN = GeoPoint(47.397742, 8.545594)
DT = 0.05


class Rig:
    """Vehicle standing at ``pos`` (x, y) [m], facing east; every sensor healthy
    unless a tick says otherwise.  ``tick(**kw)`` takes SensorFrame tweaks:
    gps=False, hacc, fix_type, motor=False, estop, fault, scan (ranges
    array), camera=False, battery (0..1), gcs=False (no heartbeat)."""

    def __init__(self, cfg=UGV, **params):
        self.core = VehicleCore(cfg, ORIGIN, None)
        for k, v in params.items():
            assert self.core.params.set(k, v).ok, k
        self.t = 0.0
        self.pos = (0.0, 0.0)

    def frame(self, gps=True, hacc=0.05, fix_type=3, sats=12, motor=True, estop=False, fault="",
              scan=None, camera=True, battery=0.9, vel=(0.0, 0.0)):
        lat, lon = self.core.frame.to_geo(*self.pos)
        g = GpsFix(self.t, lat, lon, fix_type, sats, hacc, vel[0], vel[1]) if gps else None
        m = MotorStatus(self.t, estop=estop, fault=fault) if motor else None
        sc = None
        if scan is not None:
            ranges = np.asarray(scan, dtype=np.float32)
            n = len(ranges)
            sc = LaserScan(self.t, -np.pi / 2, np.pi / (n - 1), 12.0, ranges)
        return SensorFrame(self.t, gps=g, compass=CompassReading(self.t, 0.0), scan=sc, battery_v=24.0,
                           battery_remaining=battery, motor=m, camera_t=self.t if camera else None)

    def tick(self, n: int = 1, gcs: bool = True, **kw):
        cmd = None
        for _ in range(n):
            self.t = round(self.t + DT, 6)
            if gcs:
                self.core.gcs_heartbeat(self.t)
            cmd = self.core.step(self.t, self.frame(**kw))
        return cmd

    def until(self, pred, limit_s: float, **kw) -> float:
        """Tick until ``pred()``; returns the time it took [s]."""
        t0 = self.t
        while not pred():
            assert self.t - t0 < limit_s, f"not within {limit_s} s"
            self.tick(**kw)
        return self.t - t0

    def ready(self, mode=Mode.GUIDED, **kw):
        """Healthy for 0.5 s, armed at home (0, 0), then standing 6 m east
        of home in GUIDED towards a point 20 m east."""
        self.tick(10, **kw)
        r = self.core.arm(self.t)
        assert r.ok, r.reason
        self.pos = (6.0, 0.0)
        self.tick(10, **kw)
        lat, lon = self.core.frame.to_geo(20.0, 0.0)
        assert self.core.goto(self.t, lat, lon).ok
        assert self.core.mode == mode
        return self

    def failsafe_events(self, phase=None):
        ev, _ = self.core.events_since(0)
        return [e for e in ev if e.kind == "failsafe" and (phase is None or e.data.get("phase") == phase)]

    def texts(self):
        ev, _ = self.core.events_since(0)
        return [e.text for e in ev]
