"""The ground station of a HIL run: the real ``edgepilot gcs`` client code
(link, mission upload, commands) flying the scenario's mission, as an
operator's ground station does."""
from __future__ import annotations

import threading
import time

from edgepilot.gcs.command import CommandClient
from edgepilot.gcs.connection import Link
from edgepilot.gcs.errors import GcsError
from edgepilot.gcs.formats.mission import Mission, MissionItem
from edgepilot.gcs.mav import mavutil
from edgepilot.gcs.mission import MissionClient

M = mavutil.mavlink


def mavlink_client_url(spec: str) -> str:
    """The ground-station side of a vehicle's MAVLink endpoint ``spec``."""
    kind, _, rest = spec.partition(":")
    host, _, port = rest.rpartition(":")
    host = "127.0.0.1" if host in ("", "0.0.0.0") else host
    if kind == "tcpin":
        return f"tcp:{host}:{port}"
    if kind == "udpout":
        return f"udpin:{host}:{port}"
    if kind == "udpin":
        return f"udpout:{host}:{port}"
    raise ValueError(f"HIL cannot connect a ground station to the vehicle endpoint {spec!r}")


def as_gcs_mission(items) -> Mission:
    """The simulator's mission items (``vehicle.types.MissionItem``, item 0
    home) as the ground station's :class:`Mission`."""
    conv = [MissionItem(command=it.command, frame=it.frame, param1=it.param1, param2=it.param2,
                        param3=it.param3, param4=it.param4, x=it.lat, y=it.lon, z=it.alt,
                        autocontinue=bool(it.autocontinue)) for it in items]
    return Mission(items=tuple(conv[1:]), home=conv[0] if conv else None)


class HilGroundStation:
    """A ``gcs`` link to one vehicle that also keeps every
    MISSION_ITEM_REACHED and STATUSTEXT it hears.  Not thread-safe: use it
    from one thread."""

    def __init__(self, url: str, timeout: float = 30.0):
        self.reached: set[int] = set()
        self.texts: list[str] = []
        self.link = Link(url, timeout=timeout, recorder=self._handle)
        try:
            self.vehicle = self.link.wait_vehicle(timeout=timeout)
        except Exception:
            self.link.close()
            raise
        self.target = (self.vehicle.sysid, self.vehicle.compid)
        self.commands = CommandClient(self.vehicle)

    @property
    def m(self):
        """The pymavlink connection underneath."""
        return self.link.conn

    def _handle(self, msg) -> None:
        t = msg.get_type()
        if t == "MISSION_ITEM_REACHED":
            self.reached.add(int(msg.seq))
        elif t == "STATUSTEXT":
            self.texts.append(msg.text)

    def drain(self, timeout: float = 0.0) -> list:
        return self.link.poll(timeout)

    def wait(self, types: set[str], cond, timeout: float):
        """The next message of ``types`` from the vehicle satisfying ``cond``, or None."""
        return self.vehicle.wait(types, cond, timeout)

    def heartbeat(self) -> None:
        self.link.send_heartbeat()

    def upload_mission(self, items, timeout: float = 10.0) -> int:
        """Upload the simulator's mission items with the gcs mission client."""
        client = MissionClient(self.vehicle, item_timeout=min(1.0, timeout / 2))
        return client.upload(as_gcs_mission(items))

    def command(self, cmd: int, *params, timeout: float = 2.0) -> int | None:
        """COMMAND_LONG once; the MAV_RESULT of its ACK, None without one."""
        v = self.vehicle
        p = list(params) + [0.0] * (7 - len(params))
        v.mav.command_long_send(v.sysid, v.compid, cmd, 0, *p)
        ack = v.wait("COMMAND_ACK", lambda m: m.command == cmd, timeout)
        return None if ack is None else int(ack.result)

    def close(self) -> None:
        self.link.close()


class MissionFlight(threading.Thread):
    """On its own thread (the hardware loop must keep real time): connect,
    upload the mission, arm (retrying while pre-arm checks refuse), AUTO,
    then listen until every NAV item is reached or ``stop()``.  ``phase``,
    ``reached`` and ``error`` are read by the harness."""

    def __init__(self, url: str, items, nav: set[int], connect_timeout: float = 60.0, on_text=None,
                 clock=time.monotonic):
        super().__init__(name="hil-ground-station", daemon=True)
        self.url = url
        self.items = items
        self.nav = set(nav)
        self.connect_timeout = connect_timeout
        self.on_text = on_text
        self.clock = clock
        self.phase = "connect"
        self.error: str | None = None
        self.reached: frozenset[int] = frozenset()
        self._halt = threading.Event()
        self.gcs: HilGroundStation | None = None

    def stop(self) -> None:
        self._halt.set()

    @property
    def done(self) -> bool:
        return self.phase in ("complete", "failed")

    def run(self) -> None:
        try:
            self._fly()
        except (GcsError, OSError, TimeoutError, ValueError) as e:
            self.error = str(e)
            self.phase = "failed"
        finally:
            if self.gcs is not None:
                self.gcs.close()

    def _fly(self) -> None:
        self.gcs = gcs = HilGroundStation(self.url, timeout=self.connect_timeout)
        self.phase = "upload"
        gcs.upload_mission(self.items)
        self.phase = "arm"
        while not self._halt.is_set():
            try:
                gcs.commands.arm()
                break
            except GcsError:       # pre-arm checks refuse until the estimate settles: retry
                gcs.link.pump_for(0.5)
        if self._halt.is_set():
            return
        gcs.commands.set_mode("AUTO")
        self.phase = "auto"
        if self.on_text:
            self.on_text("armed, AUTO")
        while not self._halt.is_set():
            gcs.drain(0.1)
            self.reached = frozenset(gcs.reached)
            if self.nav <= gcs.reached:
                self.phase = "complete"
                return
