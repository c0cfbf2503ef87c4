"""Camera objects that can move (people, vessels, vehicles) as a
short-lived obstacle layer.

A static thing the camera sees (a buoy, a cone, a barrel) is mapped for
good (``Perception._camera``).  A thing that can move must not be: a
walking person would leave a trail of obstacles behind it, and a target
where it stood would be refused as "inside an obstacle" long after it
left.  The lidar has the same rule for its moving tracks (they are not
mapped; ``Perception._near_unsettled_tracks``); this is the camera's.

``TransientObjects`` follows such detections from frame to frame in the
map frame: a detection joins the nearest object within the gate
(``gate_m`` plus how far an object of its class can have moved since it
was last seen), which moves there; the rest start new objects.  An
object is an obstacle once seen in ``confirm_hits`` frames (the rule the
static camera obstacles follow: two frames) and stays one, at the place it
was last seen, until it has not been seen for ``forget_s`` seconds.  So
an object still in view is never dropped (each frame refreshes it), one
that walked on takes its obstacle with it, and one that left the view is
forgotten after a bounded time (the lidar still sees what is there).

Map frame ENU metres, seconds on the core's clock.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

#: Detection classes of things that can move (``CameraConfig.object_classes``).
MOVABLE_CLASSES = ("person", "vessel", "vehicle")
#: Fastest an object of each class is taken to move between two sightings
#: [m/s]: it widens the association gate by this much per second unseen.
MAX_SPEED_MPS = {"person": 3.0, "vehicle": 6.0, "vessel": 8.0}


@dataclass
class TransientObject:
    """One movable object the camera follows: centre (x, y) [m, map frame]
    and ``radius`` [m] where it was last seen at ``t`` [s]; ``hits`` the
    frames it was seen in."""

    id: int
    kind: str
    x: float
    y: float
    radius: float
    t: float
    hits: int = 1


class TransientObjects:
    """The camera's movable objects.  ``version`` increments whenever the
    set of obstacles (``obstacles()``) changes."""

    def __init__(self, gate_m: float = 1.0, forget_s: float = 2.0, confirm_hits: int = 2):
        if not (math.isfinite(gate_m) and gate_m > 0):
            raise ValueError(f"gate_m must be a positive number of metres, got {gate_m!r}")
        if not (math.isfinite(forget_s) and forget_s > 0):
            raise ValueError(f"forget_s must be a positive number of seconds, got {forget_s!r}")
        if confirm_hits < 1:
            raise ValueError(f"confirm_hits must be >= 1, got {confirm_hits!r}")
        self.gate_m = float(gate_m)
        self.forget_s = float(forget_s)
        self.confirm_hits = int(confirm_hits)
        self.objects: list[TransientObject] = []
        self.version = 0
        self._next_id = 1

    def _gate(self, o: TransientObject, t: float) -> float:
        dt = min(max(t - o.t, 0.0), self.forget_s)
        return self.gate_m + MAX_SPEED_MPS.get(o.kind, 3.0) * dt

    def update(self, t: float, sightings) -> bool:
        """One processed frame at ``t`` [s]: ``sightings`` is a list of
        (x, y, radius, kind) map-frame detections of movable things.
        Associates them (nearest pairs first, one detection per object),
        then forgets objects unseen for ``forget_s``.  Returns True when
        the obstacles changed."""
        pairs = []
        for i, (x, y, _, kind) in enumerate(sightings):
            for k, o in enumerate(self.objects):
                d = math.hypot(x - o.x, y - o.y)
                if o.kind == kind and d <= self._gate(o, t):
                    pairs.append((d, i, k))
        pairs.sort()
        used_s, used_o = set(), set()
        changed = False
        for _, i, k in pairs:
            if i in used_s or k in used_o:
                continue
            used_s.add(i)
            used_o.add(k)
            o = self.objects[k]
            x, y, r, _ = sightings[i]
            was = o.hits >= self.confirm_hits
            moved = (x, y, r) != (o.x, o.y, o.radius)
            o.x, o.y, o.radius, o.t = float(x), float(y), float(r), float(t)
            o.hits += 1
            changed |= (was and moved) or (not was and o.hits >= self.confirm_hits)
        for i, (x, y, r, kind) in enumerate(sightings):
            if i not in used_s:
                self.objects.append(TransientObject(self._next_id, kind, float(x), float(y), float(r), float(t)))
                self._next_id += 1
                changed |= self.confirm_hits <= 1
        changed |= self.expire(t, bump=False)
        if changed:
            self.version += 1
        return changed

    def expire(self, now: float, bump: bool = True) -> bool:
        """Forget objects not seen for more than ``forget_s`` before ``now``
        [s]; True when a confirmed one went (the obstacles changed)."""
        keep = [o for o in self.objects if now - o.t <= self.forget_s]
        if len(keep) == len(self.objects):
            return False
        gone = any(o.hits >= self.confirm_hits for o in self.objects if now - o.t > self.forget_s)
        self.objects = keep
        if gone and bump:
            self.version += 1
        return gone

    def confirmed(self) -> list[TransientObject]:
        return [o for o in self.objects if o.hits >= self.confirm_hits]

    def obstacles(self) -> np.ndarray:
        """(N, 3) float64 [x, y, radius] map frame of the confirmed objects."""
        return np.array([(o.x, o.y, o.radius) for o in self.confirmed()], np.float64).reshape(-1, 3)
