"""COLREGs encounter classification, Rules 13-17, for power-driven vessels.

Angles here are relative bearings in degrees measured clockwise from the
bow (0 ahead, 90 starboard beam, 180 astern, 270 port beam), the way a
mariner reads them; inputs are ENU positions [m] and yaws [rad, CCW from
east].

- Rule 13 overtaking: coming up from more than 22.5 deg abaft the other's
  beam, i.e. relative bearing from the other's bow in (112.5, 247.5), and
  closing (faster).  The overtaking vessel keeps out of the way; 13(d): the
  duty holds until finally past and clear (the helm latches encounters).
- Rule 14 head-on: the other ahead or nearly ahead and on a reciprocal or
  nearly reciprocal course (masthead lights in line: about 6 deg; Rule 14(c)
  "when in doubt assume it does exist", so the default sector is wider).
  Both alter to starboard.
- Rule 15 crossing: the vessel with the other on her own starboard side
  gives way (and avoids crossing ahead); the other stands on (Rule 17).
"""
from __future__ import annotations

import enum

import numpy as np

STERN_SECTOR = (112.5, 247.5)  # [deg] relative bearing from the bow: more than 22.5 deg abaft the beam


class Encounter(enum.IntEnum):
    NONE = 0               # no risk of collision
    HEAD_ON = 1            # Rule 14: both alter to starboard
    GIVE_WAY = 2           # Rule 15: crossing, other on our starboard side: keep clear, not ahead of her
    STAND_ON = 3           # Rule 15/17: crossing, other on our port side: hold course and speed
    OVERTAKING = 4         # Rule 13: we overtake: keep clear
    OVERTAKEN = 5          # Rule 13/17: we are overtaken: hold course and speed
    OBSTACLE = 6           # stopped or drifting contact: keep clear, no rule applies

    @property
    def gives_way(self) -> bool:
        return self in (Encounter.HEAD_ON, Encounter.GIVE_WAY, Encounter.OVERTAKING, Encounter.OBSTACLE)

    @property
    def stands_on(self) -> bool:
        return self in (Encounter.STAND_ON, Encounter.OVERTAKEN)


def relative_bearing_deg(from_x, from_y, from_yaw, to_x, to_y) -> np.ndarray:
    """Relative bearing of (to_x, to_y) seen from a vessel at (from_x,
    from_y) heading ``from_yaw`` [rad ENU]: degrees clockwise from her bow,
    in [0, 360)."""
    ang = np.arctan2(np.asarray(to_y) - from_y, np.asarray(to_x) - from_x)
    return np.mod(np.degrees(np.asarray(from_yaw) - ang), 360.0)


def _wrap180(a):
    return (np.asarray(a) + 180.0) % 360.0 - 180.0


def classify(own_x: float, own_y: float, own_yaw: float, own_speed: float,
             cx, cy, c_yaw, c_speed, head_on_sector_deg: float = 10.0,
             min_moving_speed: float = 0.25) -> np.ndarray:
    """Encounter type (``Encounter`` codes, int8 (N,)) of each contact from
    our point of view, by geometry alone (risk of collision is judged by
    CPA elsewhere).  Positions [m] ENU, yaws [rad ENU] (heading, or course
    over ground when the heading is unknown), speeds over ground [m/s]."""
    cx, cy = np.asarray(cx, float), np.asarray(cy, float)
    c_yaw, c_speed = np.asarray(c_yaw, float), np.asarray(c_speed, float)
    beta = relative_bearing_deg(own_x, own_y, own_yaw, cx, cy)          # contact seen from us
    alpha = relative_bearing_deg(cx, cy, c_yaw, own_x, own_y)           # us seen from contact
    lo, hi = STERN_SECTOR
    out = np.full(cx.shape, int(Encounter.STAND_ON), np.int8)
    give = beta <= lo  # starboard side incl. dead ahead: (0, 112.5]
    out[give] = Encounter.GIVE_WAY
    course_diff = np.abs(_wrap180(np.degrees(c_yaw - own_yaw) - 180.0))
    head_on = (np.abs(_wrap180(beta)) <= head_on_sector_deg) & (course_diff <= head_on_sector_deg)
    out[head_on] = Encounter.HEAD_ON
    overtaken = (beta > lo) & (beta < hi) & (c_speed > own_speed)
    out[overtaken] = Encounter.OVERTAKEN
    overtaking = (alpha > lo) & (alpha < hi) & (own_speed > c_speed)   # Rule 13 wins over 14/15
    out[overtaking] = Encounter.OVERTAKING
    out[c_speed < min_moving_speed] = Encounter.OBSTACLE
    return out
