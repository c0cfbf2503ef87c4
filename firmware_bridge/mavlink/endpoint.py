"""The vehicle's MAVLink endpoint: links in, microservices out.

The endpoint owns the transports (one per connection string), wraps every
remote peer in a :class:`Link` with its own parser, sequence numbers and
signing state, and routes each decoded message to the microservices that
registered for its type.  Services (heartbeat, telemetry, command, mission,
param, ftp) are separate modules; they send through :meth:`send` (one link)
or :meth:`broadcast` (all links).

Time: ``now`` passed to :meth:`poll` is the vehicle core's clock (simulated
seconds in SITL) and is what core calls receive.  Protocol timing — stream
rates, heartbeats, retries — uses ``wall`` (the monotonic clock), because
the ground station on the other end of the wire lives in wall time, also
when SITL runs faster than real time.
"""
from __future__ import annotations

import logging
import time
from collections import Counter
from pathlib import Path
from typing import Callable

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from . import signing as signing_mod
from .validation import check_message
from .transport import Channel, Transport, open_transport
from .tlog import TlogWriter

log = logging.getLogger(__name__)

#: Seconds of wall time a ground station counts as present after we last heard it.
GCS_PRESENT_S = 3.0


class _LinkWriter:
    """File-like sink pymavlink's MAVLink.send writes packed frames into."""

    __slots__ = ("link",)

    def __init__(self, link: "Link"):
        self.link = link

    def write(self, buf: bytes) -> None:
        self.link._write_frame(buf)


class Link:
    """One remote peer: parser/packer state and per-link counters."""

    def __init__(self, endpoint: "MavlinkEndpoint", channel: Channel, link_id: int):
        self.endpoint = endpoint
        self.channel = channel
        self.link_id = link_id
        self.mav = (endpoint.dialect or mavlink).MAVLink(_LinkWriter(self), srcSystem=endpoint.sysid,
                                                         srcComponent=endpoint.compid)
        self.mav.robust_parsing = True
        signing_mod.configure(self.mav, endpoint.signing_key, link_id, endpoint.signing)
        self.remote: tuple[int, int] | None = None     # (sysid, compid) of the peer, once heard
        self.last_heard_wall = -1e9
        self.rx_messages = 0
        self.rx_errors = 0
        self.rx_rejected_signature = 0
        self.tx_messages = 0
        self.state: dict = {}   # per-service scratch space, keyed by service name

    @property
    def name(self) -> str:
        return self.channel.name

    def reset_parser(self) -> None:
        """Drop any partial frame (pymavlink keeps no other parse state)."""
        mav = self.mav
        if len(mav.buf) == mav.buf_index and not mav.have_prefix_error:
            return   # nothing pending: the common case, keep it cheap
        if mav.buf_len() > 0:
            self.endpoint.counters["rx_partial_dropped"] += 1
        mav.buf = bytearray()
        mav.buf_index = 0
        mav.expected_length = mavlink.HEADER_LEN_V1 + 2
        mav.have_prefix_error = False

    @property
    def closed(self) -> bool:
        return self.channel.closed

    def _write_frame(self, buf: bytes) -> None:
        self.channel.write(buf)
        self.tx_messages += 1
        tl = self.endpoint.tlog
        if tl is not None and self.endpoint._tlog_out:
            tl.write(buf)

    def send(self, msg) -> None:
        self.mav.send(msg)


Handler = Callable[[Link, object, float], None]


class MavlinkEndpoint:
    """Serves any number of ground stations for one vehicle core.

    ``core`` is a :class:`vehicle.core.VehicleCore` (only its public API is
    used).  ``endpoints`` are pymavlink connection strings.
    """

    def __init__(self, core, endpoints: list[str], vehicle_kind: str = "ugv", *,
                 sysid: int = 1, compid: int = 1, vehicle_id: str = "edgepilot",
                 signing_key: bytes | None = None, tlog: TlogWriter | None = None,
                 clock: Callable[[], float] = time.monotonic,
                 signing_state_path: str | Path | None = None, dialect=None):
        from . import command, ftp, heartbeat, mission, param, telemetry
        from .identity import vehicle_mav_type

        if not 1 <= sysid <= 255:
            raise ValueError(f"sysid: expected 1..255, got {sysid}")
        if not 1 <= compid <= 255:
            raise ValueError(f"compid: expected 1..255, got {compid}")
        if signing_key is not None and len(signing_key) != 32:
            raise ValueError(f"signing_key: expected 32 bytes, got {len(signing_key)}")
        self.core = core
        self.sysid = sysid
        self.compid = compid
        #: the pymavlink dialect module links parse with (None: ardupilotmega;
        #: the fleet auction's vehicles use ours, dialects.load(), a superset)
        self.dialect = dialect
        self.vehicle_kind = vehicle_kind
        self.mav_type = vehicle_mav_type(vehicle_kind)
        self.vehicle_id = vehicle_id
        self.signing_key = signing_key
        # Replay protection shared by all links (signing.py); with a path its
        # newest timestamp survives a restart.  Raises SigningStateError
        # (a ValueError) naming a damaged file.
        self.signing = (signing_mod.SigningState(signing_key, signing_state_path)
                        if signing_key is not None else None)
        self.tlog = tlog
        self.clock = clock
        self.transports: list[Transport] = []
        try:
            for spec in endpoints:
                self.transports.append(open_transport(spec))
        except Exception:
            self.close()
            raise
        self.links: dict[int, Link] = {}        # id(channel) -> Link
        self._next_link_id = 0
        self.handlers: dict[str, list[Handler]] = {}
        self.counters: Counter = Counter()
        self.now = 0.0
        self.wall = clock()
        self.last_gcs_wall = -1e9
        self._tlog_out = True
        # Microservices, one module each.  Order matters only for update().
        self.heartbeat = heartbeat.HeartbeatService(self)
        self.command = command.CommandService(self)
        self.telemetry = telemetry.TelemetryService(self)
        self.mission = mission.MissionService(self)
        self.param = param.ParamService(self)
        self.ftp = ftp.FtpNakService(self)
        self.services = [self.heartbeat, self.command, self.telemetry, self.mission,
                         self.param, self.ftp]

    # ------------------------------------------------------------------ wiring
    def on(self, msg_type: str, handler: Handler) -> None:
        """Register ``handler(link, msg, now)`` for a message type name."""
        self.handlers.setdefault(msg_type, []).append(handler)

    def send(self, link: Link, msg) -> None:
        link.send(msg)

    def broadcast(self, msg) -> None:
        # A broadcast frame goes into the tlog once, not once per link.
        first = True
        try:
            for link in list(self.links.values()):
                if not link.closed:
                    self._tlog_out = first
                    link.send(msg)
                    first = False
        finally:
            self._tlog_out = True

    def statustext(self, text: str, severity: int = mavlink.MAV_SEVERITY_INFO,
                   link: Link | None = None) -> None:
        """Send a STATUSTEXT (split into 50-character chunks when longer)."""
        data = text.encode("utf-8", "replace")
        chunks = [data[i:i + 50] for i in range(0, len(data), 50)] or [b""]
        if len(chunks) == 1:
            msgs = [mavlink.MAVLink_statustext_message(severity, chunks[0], 0, 0)]
        else:
            self.counters["statustext_id"] = (self.counters["statustext_id"] % 65535) + 1
            sid = self.counters["statustext_id"]
            msgs = [mavlink.MAVLink_statustext_message(severity, c, sid, i)
                    for i, c in enumerate(chunks)]
            if len(chunks[-1]) == 50:   # an exact multiple needs a terminating empty chunk
                msgs.append(mavlink.MAVLink_statustext_message(severity, b"", sid, len(chunks)))
        for m in msgs:
            if link is None:
                self.broadcast(m)
            else:
                link.send(m)

    # ------------------------------------------------------------------ loop
    def poll(self, now: float, wall: float | None = None) -> None:
        """Do all pending I/O, handle every received message, run services.
        Call once per runtime tick; never blocks."""
        self.now = now
        self.wall = self.clock() if wall is None else wall
        self._service_transports()
        for link in list(self.links.values()):
            ch = link.channel
            if ch.datagram:
                for data in ch.take_chunks():
                    link.reset_parser()
                    self._receive(link, data, now)
            else:
                data = ch.take_inbound()
                if data:
                    self._receive(link, data, now)
        if self.wall - self.last_gcs_wall < GCS_PRESENT_S:
            self.core.gcs_heartbeat(now)
        for s in self.services:
            try:
                s.update(now, self.wall)
            except Exception:
                self.counters["service_errors"] += 1
                log.exception("MAVLink service %s failed in update", type(s).__name__)
        for key, link in list(self.links.items()):
            if link.closed:
                for s in self.services:
                    s.link_closed(link)
                if self.signing is not None:
                    self.signing.detach(link.mav)
                del self.links[key]
        if self.signing is not None:
            try:
                self.signing.tick()
            except OSError:
                self.counters["signing_save_errors"] += 1
                log.exception("cannot persist the signing timestamp")
        if self.tlog is not None:
            self.tlog.maybe_flush()

    def _service_transports(self) -> None:
        for t in self.transports:
            try:
                chans = t.service()
            except OSError:
                self.counters["transport_errors"] += 1
                continue
            for ch in chans:
                key = id(ch)
                if key not in self.links:
                    self.links[key] = Link(self, ch, self._next_link_id)
                    self._next_link_id += 1
                    self.counters["links_opened"] += 1

    def _receive(self, link: Link, data: bytes, now: float) -> None:
        tl = self.tlog
        try:
            msgs = link.mav.parse_buffer(data)
        except Exception:
            # robust_parsing turns nearly every defect into MAVLink_bad_data;
            # anything left is counted and the parser state reset.
            link.rx_errors += 1
            self.counters["rx_errors"] += 1
            link.reset_parser()
            return
        if not msgs:
            return
        for m in msgs:
            mtype = m.get_type()
            if mtype == "BAD_DATA":
                reason = getattr(m, "reason", "")
                if reason == "Invalid signature":
                    link.rx_rejected_signature += 1
                    self.counters["rx_rejected_signature"] += 1
                else:
                    link.rx_errors += 1
                    self.counters["rx_errors"] += 1
                continue
            if mtype == "UNKNOWN" or mtype.startswith("UNKNOWN_"):
                self.counters["rx_unknown"] += 1
                continue
            src = (m.get_srcSystem(), m.get_srcComponent())
            if src == (self.sysid, self.compid):
                continue   # our own frame echoed back (e.g. a broadcast UDP link)
            link.rx_messages += 1
            self.counters["rx_messages"] += 1
            link.last_heard_wall = self.wall
            if tl is not None:
                tl.write(bytes(m.get_msgbuf()))
            if src[0] != self.sysid:
                link.remote = src
                self.last_gcs_wall = self.wall
            if not self._for_us(m):
                continue
            bad = check_message(m)
            if bad is not None:
                # A field we act on fails its rule (validation.MESSAGE_RULES):
                # refused before any handler or the core sees it.
                self.counters["rx_invalid"] += 1
                self._answer(link, m, bad[1], failed=False, field=bad[0])
                continue
            for h in self.handlers.get(mtype, ()):
                try:
                    h(link, m, now)
                except Exception as e:  # noqa: BLE001 - a failing handler is isolated and contained
                    self._handler_failed(link, m, e, now)

    # ------------------------------------------------------------------ refusals
    #: Messages a failure of which is answered with MISSION_ACK (the mission protocol's NACK).
    _MISSION_MSGS = frozenset({"MISSION_COUNT", "MISSION_ITEM", "MISSION_ITEM_INT", "MISSION_CLEAR_ALL",
                               "MISSION_REQUEST", "MISSION_REQUEST_INT", "MISSION_REQUEST_LIST"})

    def _answer(self, link: Link, m, reason: str, failed: bool, field: str = "") -> None:
        """Answer ``m`` with the NACK its protocol defines, so the sender is
        never left waiting: COMMAND_ACK (DENIED for bad input, FAILED for
        an internal error) for commands and SET_MODE, MISSION_ACK (INVALID /
        INVALID_SEQUENCE, or ERROR) for the mission protocol, the standing
        PARAM_VALUE for PARAM_SET; always a STATUSTEXT with the reason."""
        M = mavlink
        mtype = m.get_type()
        try:
            if mtype in ("COMMAND_LONG", "COMMAND_INT", "SET_MODE"):
                cmd = M.MAV_CMD_DO_SET_MODE if mtype == "SET_MODE" else m.command
                self.command.ack(link, m, cmd, M.MAV_RESULT_FAILED if failed else M.MAV_RESULT_DENIED)
            elif mtype in self._MISSION_MSGS:
                self.mission.abort_upload(link)
                if failed:
                    result = M.MAV_MISSION_ERROR
                elif field == "seq":
                    result = M.MAV_MISSION_INVALID_SEQUENCE
                else:
                    result = M.MAV_MISSION_INVALID
                link.send(M.MAVLink_mission_ack_message(m.get_srcSystem(), m.get_srcComponent(), result,
                                                        getattr(m, "mission_type", 0)))
            elif mtype == "PARAM_SET":
                self.param.answer_standing(link, m)
            self.statustext(reason, M.MAV_SEVERITY_ERROR if failed else M.MAV_SEVERITY_WARNING, link=link)
        except Exception:  # noqa: BLE001 - answering must not take the endpoint down
            self.counters["answer_errors"] += 1
            log.exception("cannot answer a refused %s", mtype)

    def _handler_failed(self, link: Link, m, exc: BaseException, now: float) -> None:
        """A handler raised: count it, answer the sender (FAILED / ERROR) and
        contain it in the core as an internal error (HOLD, zero command,
        CRITICAL STATUSTEXT, counted), as a fault inside the tick is."""
        mtype = m.get_type()
        self.counters["handler_errors"] += 1
        log.error("MAVLink handler for %s failed", mtype, exc_info=exc)
        contain = getattr(self.core, "contain_fault", None)
        if contain is not None:
            try:
                contain(now, f"MAVLink handler {mtype}", exc)
            except Exception:  # noqa: BLE001
                log.exception("cannot contain a failed %s handler", mtype)
        self._answer(link, m, f"{mtype} failed: internal error ({type(exc).__name__})", failed=True)

    def _for_us(self, m) -> bool:
        ts = getattr(m, "target_system", None)
        if ts is not None and ts not in (0, self.sysid):
            return False
        tc = getattr(m, "target_component", None)
        if tc is not None and tc not in (0, self.compid):
            return False
        return True

    # ------------------------------------------------------------------ info
    def fds(self) -> list[int]:
        """Descriptors that are readable when a ground station sent something
        (the runtime loop waits on them between control ticks)."""
        out: list[int] = []
        for t in self.transports:
            try:
                out.extend(t.fds())
            except OSError:
                continue
        return [f for f in out if f >= 0]

    def stats(self) -> dict:
        """Counters for operators and tests: totals plus per-link numbers."""
        d = dict(self.counters)
        if self.signing is not None:
            d.update(self.signing.stats)
        d["internal_errors"] = int(getattr(self.core, "internal_errors", 0))
        d["links"] = [{"name": l.name, "rx": l.rx_messages, "rx_errors": l.rx_errors,
                       "rx_rejected_signature": l.rx_rejected_signature, "tx": l.tx_messages}
                      for l in self.links.values()]
        return d

    def close(self) -> None:
        if self.signing is not None:
            try:
                self.signing.save()
            except OSError:
                log.exception("cannot persist the signing timestamp")
        for t in self.transports:
            try:
                t.close()
            except OSError:
                pass
        if self.tlog is not None:
            self.tlog.close()
