"""Mission microservice (MAVLink mission protocol, ArduPilot conventions).

Upload: MISSION_COUNT -> we request each item with MISSION_REQUEST_INT ->
MISSION_ITEM_INT (or legacy MISSION_ITEM) -> MISSION_ACK.  A request is
re-sent after ``ITEM_TIMEOUT_S`` without an answer, up to ``MAX_RETRIES``
times, then the upload is cancelled with MISSION_ACK(OPERATION_CANCELLED).
One upload at a time: another link trying meanwhile is DENIED.  A
MISSION_REQUEST_LIST from the uploading link mid-upload (MAVProxy sends one)
is answered once the upload ends.

Download: stateless — MISSION_COUNT, then each MISSION_REQUEST(_INT) is
answered with the item; no final ACK is awaited (MAVProxy sends none).
Item 0 is home, as in ArduPilot.

Fence (MAV_MISSION_TYPE_FENCE, every message of the exchange carries
mission_type = 1): the same upload/download/clear-all exchange for the
vehicle's geofence — items MAV_CMD_NAV_FENCE_POLYGON_VERTEX_INCLUSION/
EXCLUSION (5001/5002, param1 = vertex count), MAV_CMD_NAV_FENCE_CIRCLE_
INCLUSION/EXCLUSION (5003/5004, param1 = radius [m]) and RETURN_POINT
(5000), numbered from 0 (no home item).  A completed upload goes to
``core.set_fence(items)`` (which validates it: MAV_MISSION_INVALID plus a
STATUSTEXT with the reason when refused); a download returns
``core.fence.items``; MISSION_CLEAR_ALL with the fence type clears it
(MAV_MISSION_TYPE_ALL clears mission and fence).  Rally lists are empty
and cannot be uploaded (MAV_MISSION_UNSUPPORTED).

``after_change`` callbacks run after a plan (mission or fence) was
changed and *before* the MISSION_ACK goes out, so a vehicle that persists
its plans (onboard.state_store) has written them when the ground station
hears "accepted".
"""
from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.types import Cmd, MissionItem
from edgepilot.vehicle.validation import check_fence_item, check_mission_item

from .service import Service
from .validation import mission_result

M = mavlink
ITEM_TIMEOUT_S = 1.5
MAX_RETRIES = 5
MAX_ITEMS = 700

#: Frames for items carrying a position; x/y of MISSION_ITEM_INT are degE7.
POSITION_FRAMES = frozenset({M.MAV_FRAME_GLOBAL, M.MAV_FRAME_GLOBAL_RELATIVE_ALT,
                             M.MAV_FRAME_GLOBAL_INT, M.MAV_FRAME_GLOBAL_RELATIVE_ALT_INT,
                             M.MAV_FRAME_GLOBAL_TERRAIN_ALT, M.MAV_FRAME_GLOBAL_TERRAIN_ALT_INT})
ACCEPTED_FRAMES = POSITION_FRAMES | {M.MAV_FRAME_MISSION}
MISSION = M.MAV_MISSION_TYPE_MISSION
FENCE = M.MAV_MISSION_TYPE_FENCE
#: Plan types that can be uploaded and downloaded here.
PLAN_TYPES = (MISSION, FENCE)


def _has_position(command: int) -> bool:
    e = M.enums["MAV_CMD"].get(command)
    return bool(getattr(e, "has_location", command < 100)) if e is not None else False


class _Upload:
    def __init__(self, link, src, count: int, wall: float, mission_type: int = MISSION):
        self.link = link
        self.mission_type = mission_type
        self.src = src                  # (sysid, compid) of the uploader
        self.count = count
        self.items: list[MissionItem] = []
        self.last_request_wall = wall
        self.retries = 0
        self.pending_list_request = None   # a MISSION_REQUEST_LIST to answer afterwards
        self.use_int = True


class MissionService(Service):
    name = "mission"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.upload: _Upload | None = None
        self.uploads_completed = 0
        self.uploads_failed = 0
        self.after_change: list = []     # callables run after a plan changed, before the ACK
        for t, h in (("MISSION_COUNT", self._on_count), ("MISSION_ITEM_INT", self._on_item),
                     ("MISSION_ITEM", self._on_item), ("MISSION_REQUEST_LIST", self._on_request_list),
                     ("MISSION_REQUEST_INT", self._on_request), ("MISSION_REQUEST", self._on_request),
                     ("MISSION_CLEAR_ALL", self._on_clear_all), ("MISSION_SET_CURRENT", self._on_set_current),
                     ("MISSION_ACK", self._on_ack)):
            endpoint.on(t, h)
        endpoint.command.register(M.MAV_CMD_DO_SET_MISSION_CURRENT, self._cmd_set_current)

    # ------------------------------------------------------------ helpers
    def _ack(self, link, m, result: int, mission_type: int = M.MAV_MISSION_TYPE_MISSION) -> None:
        link.send(M.MAVLink_mission_ack_message(m.get_srcSystem(), m.get_srcComponent(), result,
                                                mission_type))

    def _changed(self) -> None:
        for fn in self.after_change:
            try:
                fn()
            except OSError as e:
                # The plan is active; only its copy on disk is stale.  Say so
                # rather than refuse a plan the vehicle already holds.
                self.ep.counters["plan_persist_errors"] += 1
                self.ep.statustext(f"Plan not saved to disk: {e}", M.MAV_SEVERITY_ERROR)

    def _request_item(self, up: _Upload, wall: float) -> None:
        seq = len(up.items)
        if up.use_int:
            msg = M.MAVLink_mission_request_int_message(up.src[0], up.src[1], seq, up.mission_type)
        else:
            msg = M.MAVLink_mission_request_message(up.src[0], up.src[1], seq, up.mission_type)
        up.link.send(msg)
        up.last_request_wall = wall

    def vehicle_items(self) -> list[MissionItem]:
        """The mission as a client downloads it: item 0 is the current home."""
        items = list(self.core.mission)
        home = self.core.home
        if home is not None:
            h = MissionItem(0, int(Cmd.NAV_WAYPOINT), home.lat, home.lon, home.alt, frame=M.MAV_FRAME_GLOBAL)
            items = [h] + items[1:]
        elif not items:
            items = [MissionItem(0, int(Cmd.NAV_WAYPOINT), 0.0, 0.0, 0.0, frame=M.MAV_FRAME_GLOBAL)]
        return items

    def fence_items(self) -> list[MissionItem]:
        """The fence as a client downloads it (empty when none is loaded)."""
        fence = getattr(self.core, "fence", None)
        return list(fence.items) if fence is not None else []

    def plan_items(self, mission_type: int) -> list[MissionItem]:
        return self.fence_items() if mission_type == FENCE else self.vehicle_items()

    def _apply(self, mission_type: int, items: list[MissionItem]):
        """Hand a complete upload (or [] to clear) to the core: (ok, reason)."""
        try:
            res = self.core.set_fence(items) if mission_type == FENCE else self.core.set_mission(items)
            ok, reason = res.ok, res.reason
        except ValueError as e:
            ok, reason = False, str(e)
        if ok:
            self._changed()
        return ok, reason

    # ------------------------------------------------------------ upload
    def _on_count(self, link, m, now):
        mtype = getattr(m, "mission_type", 0)
        if mtype not in PLAN_TYPES:
            self._ack(link, m, M.MAV_MISSION_UNSUPPORTED, mtype)
            return
        up = self.upload
        if up is not None and up.link is not link:
            self._ack(link, m, M.MAV_MISSION_DENIED, mtype)
            return
        if m.count > MAX_ITEMS:
            self.upload = None
            self._ack(link, m, M.MAV_MISSION_NO_SPACE, mtype)
            return
        if m.count == 0:
            self.upload = None
            ok, _ = self._apply(mtype, [])
            self._ack(link, m, M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_ERROR, mtype)
            return
        self.upload = _Upload(link, (m.get_srcSystem(), m.get_srcComponent()), m.count, self.ep.wall, mtype)
        self._request_item(self.upload, self.ep.wall)

    def _on_item(self, link, m, now):
        mtype = getattr(m, "mission_type", 0)
        is_int = m.get_type() == "MISSION_ITEM_INT"
        up = self.upload
        if up is None or up.link is not link:
            if m.current == 2 and mtype == M.MAV_MISSION_TYPE_MISSION:
                self._guided_item(link, m, is_int, now)
            return
        if mtype != up.mission_type:
            return
        expected = len(up.items)
        if m.seq != expected:
            # A duplicate or an item ahead of the one we asked for: ask again.
            self._request_item(up, self.ep.wall)
            return
        if not is_int:
            up.use_int = False   # a client speaking legacy MISSION_ITEM gets MISSION_REQUEST
        if m.frame not in ACCEPTED_FRAMES and _has_position(m.command):
            self.upload = None
            self.uploads_failed += 1
            self._ack(link, m, M.MAV_MISSION_UNSUPPORTED_FRAME, mtype)
            self._serve_deferred(up)
            return
        if is_int and _has_position(m.command):
            lat, lon = m.x * 1e-7, m.y * 1e-7
        else:
            lat, lon = float(m.x), float(m.y)
        item = MissionItem(seq=m.seq, command=int(m.command), lat=lat, lon=lon, alt=float(m.z),
                           param1=m.param1, param2=m.param2, param3=m.param3, param4=m.param4,
                           frame=int(m.frame), autocontinue=int(m.autocontinue))
        # Each item against the one table (vehicle.validation) as it arrives,
        # answered with the MAV_MISSION_RESULT naming the bad field.
        bad = (check_fence_item(item, m.seq) if mtype == FENCE
               else check_mission_item(item, m.seq, up.count))
        if bad is not None:
            self.upload = None
            self.uploads_failed += 1
            self.ep.counters["rx_invalid"] += 1
            self._ack(link, m, mission_result(bad), mtype)
            what = "Fence" if mtype == FENCE else "Mission"
            self.ep.statustext(f"{what} rejected: {bad}", M.MAV_SEVERITY_WARNING, link=link)
            self._serve_deferred(up)
            return
        up.items.append(item)
        up.retries = 0
        if len(up.items) < up.count:
            self._request_item(up, self.ep.wall)
            return
        self.upload = None
        ok, reason = self._apply(mtype, up.items)
        if ok:
            self.uploads_completed += 1
            self._ack(link, m, M.MAV_MISSION_ACCEPTED, mtype)
        else:
            self.uploads_failed += 1
            self._ack(link, m, M.MAV_MISSION_INVALID, mtype)
            what = "Fence" if mtype == FENCE else "Mission"
            if not reason.startswith(what):
                reason = f"{what} rejected: {reason}"
            self.ep.statustext(reason, M.MAV_SEVERITY_WARNING, link=link)
        self._serve_deferred(up)

    def _serve_deferred(self, up: _Upload) -> None:
        if up.pending_list_request is not None and not up.link.closed:
            self._send_count(up.link, up.pending_list_request)

    def update(self, now, wall):
        up = self.upload
        if up is None:
            return
        if up.link.closed:
            self.upload = None
            self.uploads_failed += 1
            return
        if wall - up.last_request_wall >= ITEM_TIMEOUT_S:
            up.retries += 1
            if up.retries > MAX_RETRIES:
                self.upload = None
                self.uploads_failed += 1
                up.link.send(M.MAVLink_mission_ack_message(up.src[0], up.src[1],
                                                           M.MAV_MISSION_OPERATION_CANCELLED,
                                                           up.mission_type))
                return
            self._request_item(up, wall)

    def abort_upload(self, link) -> None:
        """Drop an upload in progress from ``link`` (after a refused or failed message)."""
        if self.upload is not None and self.upload.link is link:
            self.upload = None
            self.uploads_failed += 1

    def link_closed(self, link) -> None:
        if self.upload is not None and self.upload.link is link:
            self.upload = None
            self.uploads_failed += 1

    # ------------------------------------------------------------ download
    def _on_request_list(self, link, m, now):
        mtype = getattr(m, "mission_type", 0)
        if mtype not in PLAN_TYPES:
            link.send(M.MAVLink_mission_count_message(m.get_srcSystem(), m.get_srcComponent(), 0, mtype))
            return
        up = self.upload
        if up is not None:
            if up.link is link:
                up.pending_list_request = m
            else:
                self._ack(link, m, M.MAV_MISSION_DENIED)
            return
        self._send_count(link, m)

    def _send_count(self, link, m) -> None:
        mtype = getattr(m, "mission_type", 0)
        link.send(M.MAVLink_mission_count_message(m.get_srcSystem(), m.get_srcComponent(),
                                                  len(self.plan_items(mtype)), mtype))

    def _on_request(self, link, m, now):
        mtype = getattr(m, "mission_type", 0)
        if mtype not in PLAN_TYPES:
            self._ack(link, m, M.MAV_MISSION_UNSUPPORTED, mtype)
            return
        up = self.upload
        if up is not None and up.link is link and up.mission_type == mtype:
            return   # our own upload in progress on this link; not a download
        items = self.plan_items(mtype)
        if not 0 <= m.seq < len(items):
            self._ack(link, m, M.MAV_MISSION_INVALID_SEQUENCE, mtype)
            return
        it = items[m.seq]
        current = 1 if mtype == MISSION and it.seq == self.core.mission_current else 0
        dst = (m.get_srcSystem(), m.get_srcComponent())
        pos = _has_position(it.command)
        if m.get_type() == "MISSION_REQUEST_INT":
            x = int(round(it.lat * 1e7)) if pos else int(it.lat)
            y = int(round(it.lon * 1e7)) if pos else int(it.lon)
            link.send(M.MAVLink_mission_item_int_message(
                dst[0], dst[1], m.seq, it.frame, it.command, current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, x, y, it.alt, mtype))
        else:
            link.send(M.MAVLink_mission_item_message(
                dst[0], dst[1], m.seq, it.frame, it.command, current, it.autocontinue,
                it.param1, it.param2, it.param3, it.param4, it.lat, it.lon, it.alt, mtype))

    def _on_ack(self, link, m, now):
        # The end of a download; nothing to release because downloads are stateless.
        self.ep.counters["mission_acks_received"] += 1

    # ------------------------------------------------------------ other operations
    def _on_clear_all(self, link, m, now):
        mtype = getattr(m, "mission_type", 0)
        if mtype not in PLAN_TYPES + (M.MAV_MISSION_TYPE_ALL,):
            self._ack(link, m, M.MAV_MISSION_ACCEPTED, mtype)   # rally points are already empty
            return
        if self.upload is not None and self.upload.link is not link:
            self._ack(link, m, M.MAV_MISSION_DENIED, mtype)
            return
        self.upload = None
        kinds = PLAN_TYPES if mtype == M.MAV_MISSION_TYPE_ALL else (mtype,)
        ok = all([self._apply(k, [])[0] for k in kinds])
        self._ack(link, m, M.MAV_MISSION_ACCEPTED if ok else M.MAV_MISSION_ERROR, mtype)

    def _on_set_current(self, link, m, now):
        res = self.core.set_current(int(m.seq))   # seq: checked by validation.MESSAGE_RULES
        if not res.ok:
            self.ep.statustext(f"Set current item refused: {res.reason}", M.MAV_SEVERITY_WARNING, link=link)
        self.ep.broadcast(self.ep.telemetry.mission_current(now))

    def _cmd_set_current(self, link, a, now):
        res = self.core.set_current(int(a.p1))
        if not res.ok:
            return M.MAV_RESULT_DENIED, f"Set current item refused: {res.reason}"
        self.ep.broadcast(self.ep.telemetry.mission_current(now))
        return M.MAV_RESULT_ACCEPTED

    def _guided_item(self, link, m, is_int, now):
        """MISSION_ITEM(_INT) with current=2: ArduPilot's 'guided waypoint'
        (MAVProxy's ``guided`` command); answered with MISSION_ACK."""
        lat, lon = (m.x * 1e-7, m.y * 1e-7) if is_int else (float(m.x), float(m.y))
        res = self.core.goto(now, lat, lon)
        self._ack(link, m, M.MAV_MISSION_ACCEPTED if res.ok else M.MAV_MISSION_ERROR)
        if not res.ok:
            self.ep.statustext(f"Guided target refused: {res.reason}", M.MAV_SEVERITY_WARNING, link=link)
