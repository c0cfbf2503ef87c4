"""``edgepilot gcs fleet tasks upload FILE --auction`` and ``fleet tasks
--auction``: what the ground station needs of our task format and MAVLink
dialect to hand a task file to the fleet and to read back the vehicles'
auction.

Layering (as ``plan.py``): ``edgepilot.gcs`` speaks MAVLink only and may
import neither the task model nor the dialect (``firmware_bridge``), so
``edgepilot.cli`` passes an :class:`AuctionHandoff` to ``gcs.cli.main``.
The ground station then sends the messages it builds and hands it every
message of ours it hears (pymavlink's ardupilotmega parser delivers them as
``UNKNOWN_<id>`` frames), which it decodes with the dialect, checking the
signature with the link's key (pymavlink does not check the signature of a
message id it does not know).

Auction document (``--save``, default ``fleet_auction.json``)::

    {"format": "edgepilot-fleet-auction", "version": 1, "name": ..., "plan_id": 1158936839,
     "tasks": ["gate", "north", ...], "vehicles": [{"name": "ugv1", "sysid": 1}, ...]}

``tasks`` in plan order (the auction's task indices), ``vehicles`` the
auction's members (``kind = "edgepilot"`` entries of the task file).
"""
from __future__ import annotations

from pathlib import Path

from edgepilot.firmware_bridge.fleet_link import (CANCEL_RESULTS, TASK_FILE_START, cancel_message, plan_id_of,
                                                  read_task_id, task_file_messages, task_id_problem)
from edgepilot.firmware_bridge.mavlink import dialects
from edgepilot.vehicle.config import ConfigError
from edgepilot.vehicle.fleet.tasks import load_tasks

AUCTION_FORMAT = "edgepilot-fleet-auction"   # the same string as edgepilot.gcs.fleet.AUCTION_FORMAT
OUR_IDS = range(47100, 47110)


class AuctionHandoff:
    """Task file -> auction document and EDGEPILOT_TASK_FILE messages;
    our dialect's frames -> decoded messages."""

    def prepare(self, tasks_path: str) -> dict:
        """Validate the task file; the auction document (plus ``text``, the
        file itself).  ValueError names the file and key."""
        p = Path(tasks_path)
        try:
            tf = load_tasks(p)
        except ConfigError as e:
            raise ValueError(str(e)) from None
        members = [v for v in tf.vehicle if v.kind == "edgepilot"]
        if not members:
            raise ValueError(f"{p}: vehicle: the auction needs edgepilot vehicles ([[vehicle]] with kind = "
                             f"\"edgepilot\"): they allocate among themselves")
        if not tf.task:
            raise ValueError(f"{p}: task: no tasks to hand out")
        text = p.read_text(encoding="utf-8")
        import zlib

        pid = plan_id_of(zlib.compress(text.encode("utf-8"), 9))
        return {"format": AUCTION_FORMAT, "version": 1, "name": tf.name, "plan_id": pid,
                "tasks": [t.id for t in tf.task], "vehicles": [{"name": v.name, "sysid": v.sysid} for v in members],
                "text": text}

    def messages(self, doc: dict, sysid: int, start: bool) -> list:
        """The EDGEPILOT_TASK_FILE parts for vehicle ``sysid``."""
        return task_file_messages(doc["text"], target_system=sysid, flags=TASK_FILE_START if start else 0,
                                  plan_id=doc["plan_id"])

    def cancel(self, doc: dict, sysid: int, task_id: str):
        """EDGEPILOT_TASK_CANCEL of ``task_id`` for vehicle ``sysid``."""
        return cancel_message(doc["plan_id"], task_id, target_system=sysid)

    @staticmethod
    def task_id_problem(task_id: str) -> str:
        """Why ``task_id`` is not a task id ("" when it is one)."""
        return task_id_problem(task_id)

    @staticmethod
    def cancel_answer(msg) -> dict | None:
        """An EDGEPILOT_TASK_CANCEL_ACK (decoded) as {"plan_id", "task",
        "task_index", "result" (accepted, unknown_plan, unknown_task,
        already_done, bad_id), "completed_by"}; None for other messages."""
        if msg is None or msg.get_type() != "EDGEPILOT_TASK_CANCEL_ACK":
            return None
        r = msg.result
        return {"plan_id": msg.plan_id, "task": read_task_id(msg), "task_index": msg.task_index,
                "result": CANCEL_RESULTS[r] if r < len(CANCEL_RESULTS) else f"result {r}",
                "completed_by": msg.completed_by or None}

    def decoder(self, signing_key: bytes | None):
        """``decode(msg)``: the dialect message an ``UNKNOWN_<id>`` frame of
        ours holds, or None (not ours, corrupt, or not signed with the key)."""
        mod = dialects.load()
        mav = mod.MAVLink(None)
        if signing_key is not None:
            mav.signing.secret_key = bytes(signing_key)
            mav.signing.allow_unsigned_callback = None

        def decode(m):
            t = m.get_type()
            if not t.startswith("UNKNOWN_"):
                return None
            try:
                if int(t[len("UNKNOWN_"):]) not in OUR_IDS:
                    return None
                return mav.decode(bytearray(m.data))
            except Exception:  # noqa: BLE001 - a frame we cannot trust is dropped
                return None

        return decode


__all__ = ["AUCTION_FORMAT", "AuctionHandoff"]
