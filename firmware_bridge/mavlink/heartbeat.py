"""HEARTBEAT microservice: our 1 Hz heartbeat on every link, the boot
STATUSTEXT, and noticing ground stations (their heartbeats feed the core's
link-loss failsafe through the endpoint)."""
from __future__ import annotations

from pymavlink.dialects.v20 import ardupilotmega as mavlink

from edgepilot.vehicle.types import Mode

from .identity import base_mode, boot_text
from .service import Service

HEARTBEAT_PERIOD_S = 1.0


def system_status(core) -> int:
    state = core.state
    if state is None or not getattr(state, "valid", False):
        return mavlink.MAV_STATE_BOOT if not core.armed else mavlink.MAV_STATE_CRITICAL
    if getattr(core, "failsafe_active", False):
        return mavlink.MAV_STATE_CRITICAL
    return mavlink.MAV_STATE_ACTIVE if core.armed else mavlink.MAV_STATE_STANDBY


class HeartbeatService(Service):
    name = "heartbeat"

    def __init__(self, endpoint):
        super().__init__(endpoint)
        self.gcs_heartbeats = 0
        endpoint.on("HEARTBEAT", self._on_heartbeat)

    def _on_heartbeat(self, link, msg, now):
        if msg.type == mavlink.MAV_TYPE_GCS:
            self.gcs_heartbeats += 1

    def make(self) -> mavlink.MAVLink_heartbeat_message:
        core = self.core
        mode = Mode(core.mode)
        return mavlink.MAVLink_heartbeat_message(
            type=self.ep.mav_type, autopilot=mavlink.MAV_AUTOPILOT_ARDUPILOTMEGA,
            base_mode=base_mode(mode, bool(core.armed)), custom_mode=int(mode),
            system_status=system_status(core), mavlink_version=3)

    def update(self, now, wall):
        for link in list(self.ep.links.values()):
            st = link.state.get(self.name)
            if st is None:
                # First contact: heartbeat at once, then say who we are.
                link.state[self.name] = {"next": wall + HEARTBEAT_PERIOD_S}
                link.send(self.make())
                self.ep.statustext(boot_text(), mavlink.MAV_SEVERITY_INFO, link=link)
                continue
            if wall >= st["next"]:
                st["next"] = max(st["next"] + HEARTBEAT_PERIOD_S, wall)
                link.send(self.make())
