"""WGS84 <-> local ENU conversion on a tangent plane.

An equirectangular approximation around a fixed origin; over the few
kilometres a UGV or USV mission spans its error is well under a centimetre
per 100 m, far below GPS noise.
"""
from __future__ import annotations

import math

EARTH_RADIUS_M = 6378137.0


class LocalFrame:
    """Converts between WGS84 degrees and the ENU map frame anchored at
    ``origin_lat``/``origin_lon`` (the map frame's (0, 0))."""

    def __init__(self, origin_lat: float, origin_lon: float):
        if not (-90.0 <= origin_lat <= 90.0 and -180.0 <= origin_lon <= 180.0):
            raise ValueError(f"geodetic origin out of range: lat={origin_lat}, lon={origin_lon}")
        self.origin_lat = float(origin_lat)
        self.origin_lon = float(origin_lon)
        self._m_per_deg_lat = math.radians(1.0) * EARTH_RADIUS_M
        self._m_per_deg_lon = self._m_per_deg_lat * math.cos(math.radians(origin_lat))

    def to_local(self, lat: float, lon: float) -> tuple[float, float]:
        """WGS84 degrees -> (x east, y north) metres."""
        return ((lon - self.origin_lon) * self._m_per_deg_lon,
                (lat - self.origin_lat) * self._m_per_deg_lat)

    def to_geo(self, x: float, y: float) -> tuple[float, float]:
        """(x east, y north) metres -> (lat, lon) WGS84 degrees."""
        return (self.origin_lat + y / self._m_per_deg_lat,
                self.origin_lon + x / self._m_per_deg_lon)


# wrap_pi's constants, bound once (it runs several times a control tick): the same floats
_PI = math.pi
_TWO_PI = 2.0 * math.pi


def wrap_pi(a: float) -> float:
    """Wrap an angle to [-pi, pi)."""
    return (a + _PI) % _TWO_PI - _PI


def enu_yaw_to_compass_deg(yaw: float) -> float:
    """ENU yaw (rad, CCW from east) -> compass heading (deg, CW from north, 0..360)."""
    return (90.0 - math.degrees(yaw)) % 360.0


def compass_deg_to_enu_yaw(heading_deg: float) -> float:
    """Compass heading (deg, CW from north) -> ENU yaw (rad, CCW from east)."""
    return wrap_pi(math.radians(90.0 - heading_deg))
