"""Base class for one MAVLink microservice."""
from __future__ import annotations


class Service:
    """A microservice registers message handlers on the endpoint in its
    constructor, does periodic work in :meth:`update` and drops per-link
    state in :meth:`link_closed`."""

    name = "service"

    def __init__(self, endpoint):
        self.ep = endpoint

    @property
    def core(self):
        return self.ep.core

    def update(self, now: float, wall: float) -> None:
        pass

    def link_closed(self, link) -> None:
        link.state.pop(self.name, None)
