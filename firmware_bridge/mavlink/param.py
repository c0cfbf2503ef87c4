"""Parameter microservice over the vehicle's ParamStore.

PARAM_REQUEST_LIST streams every parameter (a bounded number per tick so a
big list cannot stall the loop), PARAM_REQUEST_READ answers by name or
index, PARAM_SET changes a value (the store validates and persists it) and
broadcasts the resulting PARAM_VALUE to every link, as ground stations
expect.  Values are MAV_PARAM_TYPE_REAL32; param_count and param_index are
those of the store's sorted name list, so indexes are unique and stable.
"""
from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from .service import Service

M = mavlink
#: PARAM_VALUE messages sent per link per tick while streaming a list.
LIST_BURST = 64


def _name(param_id) -> str:
    if isinstance(param_id, bytes):
        param_id = param_id.decode("ascii", "replace")
    return param_id.split("\0", 1)[0].strip()


class ParamService(Service):
    name = "param"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.unknown_requests = 0
        endpoint.on("PARAM_REQUEST_LIST", self._on_list)
        endpoint.on("PARAM_REQUEST_READ", self._on_read)
        endpoint.on("PARAM_SET", self._on_set)

    @property
    def store(self):
        return self.core.params

    def value_msg(self, name: str) -> mavlink.MAVLink_param_value_message:
        names = self.store.names()
        return M.MAVLink_param_value_message(name.encode("ascii"), float(self.store.get(name)),
                                             M.MAV_PARAM_TYPE_REAL32, len(names), self.store.index(name))

    def _on_list(self, link, m, now):
        link.state[self.name] = {"queue": list(self.store.names())}

    def _on_read(self, link, m, now):
        names = self.store.names()
        if m.param_index >= 0:
            if m.param_index >= len(names):
                self.unknown_requests += 1
                return
            name = names[m.param_index]
        else:
            name = _name(m.param_id)
            if name not in names:
                self.unknown_requests += 1
                return
        link.send(self.value_msg(name))

    def _on_set(self, link, m, now):
        name = _name(m.param_id)
        if name not in self.store.names():
            self.unknown_requests += 1
            self.ep.statustext(f"PARAM_SET: unknown parameter {name!r}", M.MAV_SEVERITY_WARNING, link=link)
            return
        res = self.store.set(name, float(m.param_value))
        if res is not None and not res.ok:
            self.ep.statustext(f"PARAM_SET {name} refused: {res.reason}", M.MAV_SEVERITY_WARNING, link=link)
            link.send(self.value_msg(name))   # tell the sender the value that stands
            return
        self.ep.broadcast(self.value_msg(name))

    def answer_standing(self, link, m) -> None:
        """A refused PARAM_SET is answered with the value that stands (when the name is known)."""
        name = _name(m.param_id)
        if name in self.store.names():
            link.send(self.value_msg(name))

    def update(self, now, wall):
        for link in list(self.ep.links.values()):
            st = link.state.get(self.name)
            if not st or not st["queue"]:
                continue
            q = st["queue"]
            for name in q[:LIST_BURST]:
                link.send(self.value_msg(name))
            del q[:LIST_BURST]
