"""The vehicle's MAVLink endpoint: one module per microservice.

``endpoint`` multiplexes links (``transport``) and routes messages to
``heartbeat``, ``telemetry``, ``command``, ``mission``, ``param`` and ``ftp``
(a MAVFTP NAK); ``signing`` configures MAVLink 2 signing and ``tlog``
records all traffic.
"""
from .endpoint import Link, MavlinkEndpoint
from .tlog import TlogWriter

__all__ = ["Link", "MavlinkEndpoint", "TlogWriter"]
