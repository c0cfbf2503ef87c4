"""Mission microservice client: upload, download, clear (MAVLink mission
protocol, MISSION_ITEM_INT with degE7 positions in both directions, also
to a vehicle that requests items with the older MISSION_REQUEST).

ArduPilot (and edgepilot) number home as item 0; PX4 does not store home
in the mission.  :func:`to_wire` / :func:`from_wire` convert between a
:class:`~gcs.formats.mission.Mission` and the item list on the wire.

The vehicle drives an upload (it requests each item); a vehicle that stops
requesting for ``stall_timeout`` ends the upload with NoAnswerError, and an
operator interrupt sends MISSION_ACK(OPERATION_CANCELLED) so the vehicle
drops the partial upload and keeps its previous mission.
"""
from __future__ import annotations

import time
from typing import Callable

from edgepilot.gcs.mav import mavutil

from edgepilot.gcs.connection import Vehicle
from edgepilot.gcs.errors import MissionStoppedError, NoAnswerError, OperatorInterrupt, RefusedError
from edgepilot.gcs.formats.mission import GLOBAL_FRAMES, Mission, MissionItem

M = mavutil.mavlink
Progress = Callable[[int, int], None]
ITEM_TIMEOUT_S = 1.0
RETRIES = 5
REASON_GRACE_S = 1.5     # how long a stopped mission waits for the vehicle to say why


def mission_result_name(r: int) -> str:
    e = M.enums["MAV_MISSION_RESULT"].get(int(r))
    return e.name if e is not None else f"MAV_MISSION_RESULT {r}"


def _scaled(it: MissionItem) -> bool:
    """MISSION_ITEM_INT carries x/y as degE7 in global frames."""
    return it.frame in GLOBAL_FRAMES


def to_wire(m: Mission, home_in_mission: bool = True) -> list[MissionItem]:
    """Items as sent (index = seq).  With ``home_in_mission`` (ArduPilot),
    item 0 is the file's home, or a zero placeholder the vehicle replaces."""
    if not home_in_mission:
        return list(m.items)
    home = m.home or MissionItem(command=M.MAV_CMD_NAV_WAYPOINT, frame=M.MAV_FRAME_GLOBAL)
    return [home] + list(m.items)


def from_wire(items: list[MissionItem], home_in_mission: bool = True) -> Mission:
    if home_in_mission and items:
        return Mission(items=tuple(items[1:]), home=items[0])
    return Mission(items=tuple(items), home=None)


def _item_msg(v: Vehicle, seq: int, it: MissionItem, mission_type: int):
    """Always MISSION_ITEM_INT, whichever request the vehicle sent: the
    mission protocol deprecates the float MISSION_ITEM, whose float32
    latitude/longitude lose up to ~0.5 m (a vehicle asking with the old
    MISSION_REQUEST, as ArduPilot Rover does, accepts the INT answer)."""
    if _scaled(it):
        x, y = int(round(it.x * 1e7)), int(round(it.y * 1e7))
    else:
        x, y = int(round(it.x)), int(round(it.y))
    return M.MAVLink_mission_item_int_message(
        v.sysid, v.compid, seq, it.frame, it.command, 0, int(bool(it.autocontinue)),
        it.param1, it.param2, it.param3, it.param4, x, y, it.z, mission_type=mission_type)


def _item_from_msg(m) -> MissionItem:
    if m.get_type() == "MISSION_ITEM_INT" and m.frame in GLOBAL_FRAMES:
        x, y = m.x / 1e7, m.y / 1e7
    else:
        x, y = float(m.x), float(m.y)
    return MissionItem(command=m.command, frame=m.frame, param1=m.param1, param2=m.param2, param3=m.param3,
                       param4=m.param4, x=x, y=y, z=float(m.z), autocontinue=bool(m.autocontinue))


class MissionClient:
    def __init__(self, vehicle: Vehicle, item_timeout: float = ITEM_TIMEOUT_S, retries: int = RETRIES,
                 mission_type: int = M.MAV_MISSION_TYPE_MISSION):
        self.v = vehicle
        self.item_timeout = item_timeout
        self.retries = retries
        self.mission_type = mission_type
        #: what the plan is called in messages: "mission" or "fence"
        self.what = "fence" if mission_type == M.MAV_MISSION_TYPE_FENCE else "mission"

    @property
    def home_in_mission(self) -> bool:
        return not self.v.is_px4 and self.mission_type == M.MAV_MISSION_TYPE_MISSION

    def _type_ok(self, m) -> bool:
        return getattr(m, "mission_type", 0) == self.mission_type

    def _refused(self, what: str, ack, before: int) -> RefusedError:
        """The refusal with the vehicle's reasons: warning-or-worse STATUSTEXTs
        since ``before`` (waited for briefly: they follow the ACK, and an INFO
        text may arrive first), else whatever texts came."""
        view = self.v.view

        def serious():
            return [t.text for t in view.texts_since(before) if t.severity <= M.MAV_SEVERITY_WARNING]

        deadline = time.monotonic() + 0.3
        while not serious() and time.monotonic() < deadline:
            self.v.link.poll(0.05)
        texts = serious() or [t.text for t in view.texts_since(before)]
        return RefusedError(what, mission_result_name(ack.type), texts)

    # ------------------------------------------------------------------ upload
    def upload(self, mission: Mission, progress: Progress | None = None) -> int:
        """Upload; returns the number of items sent (home included)."""
        items = to_wire(mission, self.home_in_mission)
        n = len(items)
        v = self.v
        before = v.view.statustext_count
        send_count = lambda: v.mav.mission_count_send(v.sysid, v.compid, n, self.mission_type)  # noqa: E731
        send_count()
        done = -1                # highest seq sent
        last_activity = time.monotonic()
        count_retries = 0
        stall = self.item_timeout * (self.retries + 1)
        if progress:
            progress(0, n)
        try:
            while True:
                m = v.wait(("MISSION_REQUEST_INT", "MISSION_REQUEST", "MISSION_ACK"), self._type_ok,
                           timeout=self.item_timeout)
                now = time.monotonic()
                if m is None:
                    if done < 0:
                        count_retries += 1
                        if count_retries > self.retries:
                            raise NoAnswerError(f"{self.what} upload: sysid {v.sysid} did not request any item "
                                                f"after {self.retries + 1} MISSION_COUNTs")
                        send_count()
                    elif now - last_activity > stall:
                        raise NoAnswerError(f"{self.what} upload stalled at item {done + 1} of {n}: sysid {v.sysid} "
                                            f"stopped requesting items; the vehicle keeps its previous {self.what}")
                    continue
                last_activity = now
                if m.get_type() == "MISSION_ACK":
                    if m.type == M.MAV_MISSION_ACCEPTED:
                        if done < n - 1:
                            raise NoAnswerError(f"{self.what} upload: vehicle acknowledged after item {done + 1} of {n}")
                        if progress:
                            progress(n, n)
                        return n
                    raise self._refused(f"{self.what} upload", m, before)
                seq = m.seq
                if not 0 <= seq < n:
                    raise NoAnswerError(f"{self.what} upload: vehicle requested item {seq}, the {self.what} has 0..{n - 1}")
                v.mav.send(_item_msg(v, seq, items[seq], self.mission_type))
                if seq > done:
                    done = seq
                    if progress:
                        progress(seq, n)
        except (KeyboardInterrupt, OperatorInterrupt):
            self.cancel()
            raise OperatorInterrupt(f"{self.what} upload interrupted at item {done + 1} of {n}; "
                                    f"cancelled on the vehicle, which keeps its previous {self.what}") from None

    def cancel(self) -> None:
        v = self.v
        try:
            v.mav.mission_ack_send(v.sysid, v.compid, M.MAV_MISSION_OPERATION_CANCELLED, self.mission_type)
        except OSError:
            pass

    # ------------------------------------------------------------------ download
    def download(self, progress: Progress | None = None) -> list[MissionItem]:
        """All items on the vehicle, in seq order (home first on ArduPilot)."""
        v = self.v
        before = v.view.statustext_count
        count = None
        for _ in range(self.retries + 1):
            v.mav.mission_request_list_send(v.sysid, v.compid, self.mission_type)
            m = v.wait(("MISSION_COUNT", "MISSION_ACK"), self._type_ok, timeout=self.item_timeout)
            if m is None:
                continue
            if m.get_type() == "MISSION_ACK":
                raise self._refused(f"{self.what} download", m, before)
            count = m.count
            break
        if count is None:
            raise NoAnswerError(f"{self.what} download: no MISSION_COUNT from sysid {v.sysid} "
                                f"after {self.retries + 1} requests")
        items: list[MissionItem] = []
        if progress:
            progress(0, count)
        try:
            for seq in range(count):
                for attempt in range(self.retries + 1):
                    v.mav.mission_request_int_send(v.sysid, v.compid, seq, self.mission_type)
                    m = v.wait(("MISSION_ITEM_INT", "MISSION_ITEM", "MISSION_ACK"),
                               lambda x: self._type_ok(x) and (x.get_type() == "MISSION_ACK" or x.seq == seq),
                               timeout=self.item_timeout)
                    if m is None:
                        continue
                    if m.get_type() == "MISSION_ACK":
                        raise self._refused(f"{self.what} download", m, before)
                    items.append(_item_from_msg(m))
                    break
                else:
                    raise NoAnswerError(f"{self.what} download stalled at item {seq} of {count}: "
                                        f"sysid {v.sysid} stopped answering")
                if progress:
                    progress(seq + 1, count)
        except KeyboardInterrupt:
            raise OperatorInterrupt(f"{self.what} download interrupted at item {len(items)} of {count}") from None
        v.mav.mission_ack_send(v.sysid, v.compid, M.MAV_MISSION_ACCEPTED, self.mission_type)
        return items

    def download_mission(self, progress: Progress | None = None) -> Mission:
        return from_wire(self.download(progress), self.home_in_mission)

    # ------------------------------------------------------------------ clear
    def clear(self) -> None:
        v = self.v
        before = v.view.statustext_count
        for _ in range(self.retries + 1):
            v.mav.mission_clear_all_send(v.sysid, v.compid, self.mission_type)
            m = v.wait("MISSION_ACK", self._type_ok, timeout=self.item_timeout)
            if m is None:
                continue
            if m.type != M.MAV_MISSION_ACCEPTED:
                raise self._refused(f"{self.what} clear", m, before)
            return
        raise NoAnswerError(f"{self.what} clear: no MISSION_ACK from sysid {v.sysid} after {self.retries + 1} tries")

    # ------------------------------------------------------------------ progress of a running mission
    def wait_complete(self, last_seq: int, timeout: float, on_update: Callable[[int | None], None] | None = None,
                      texts_from: int | None = None) -> None:
        """Block until the vehicle reports the mission done: MISSION_ITEM_REACHED
        for ``last_seq`` or MISSION_CURRENT.mission_state COMPLETE.
        ``texts_from`` is the STATUSTEXT count when the mission was started
        (the vehicle may stop it, and say why, before this wait begins)."""
        v = self.v
        deadline = time.monotonic() + timeout
        shown = None
        v.view.last_reached = None      # only what is reached from now on counts
        seen_running = False            # a COMPLETE state left over from an earlier run must not count
        texts_at_start = v.view.statustext_count if texts_from is None else texts_from
        while time.monotonic() < deadline:
            v.link.poll(0.1)
            view = v.view
            if view.mission_seq != shown and on_update:
                shown = view.mission_seq
                on_update(shown)
            if view.mission_state in (2, 3, 4):
                seen_running = True
            if (view.last_reached is not None and view.last_reached >= last_seq) or (
                    seen_running and view.mission_state == 5):
                return
            if seen_running and view.mission_state == 4:
                # PAUSED: the vehicle left AUTO (a failsafe, a planning failure
                # or another operator); say so now with the vehicle's reason.
                # The reason may trail the state on a loaded link: give it a
                # moment (a mode change by another operator comes with none).
                grace = min(deadline, time.monotonic() + REASON_GRACE_S)
                while (not any(t.severity <= 4 for t in view.texts_since(texts_at_start))
                       and time.monotonic() < grace):
                    v.link.poll(0.05)
                    view = v.view
                warnings = [t.text for t in view.texts_since(texts_at_start) if t.severity <= 4]
                raise MissionStoppedError(
                    f"mission stopped at item {view.mission_seq} (vehicle now in {view.mode})"
                    + (f": {warnings[-1]}" if warnings else ""))
            if view.stale():
                raise NoAnswerError(f"lost the link to sysid {v.sysid} while waiting for the mission to complete")
        raise NoAnswerError(f"mission not complete after {timeout:g} s (current item {v.view.mission_seq}, "
                            f"mode {v.view.mode})")

