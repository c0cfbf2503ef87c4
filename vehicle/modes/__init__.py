"""Modes as classes (ArduPilot Rover's shape): one class per mode with
enter / exit / update; the core owns the transitions.

    base.py        VehicleMode: the interface
    hold.py        ManualMode, HoldMode, LoiterMode
    auto.py        AutoMode (the mission)
    guided.py      GuidedMode (the operator's target)
    rtl.py         RtlMode (home, then HOLD)
    navigation.py  Navigator: plan, follow, give way, keep station
"""
from .auto import AutoMode
from .base import VehicleMode
from .guided import GuidedMode
from .hold import HoldMode, LoiterMode, ManualMode
from .navigation import Navigator
from .rtl import RtlMode

#: Every mode the core has, by number.
MODE_CLASSES = (ManualMode, HoldMode, LoiterMode, AutoMode, RtlMode, GuidedMode)


def make_modes(core) -> dict:
    """One instance of each mode for ``core``, keyed by ``Mode``."""
    return {cls.number: cls(core) for cls in MODE_CLASSES}


__all__ = ["AutoMode", "GuidedMode", "HoldMode", "LoiterMode", "MODE_CLASSES", "ManualMode", "Navigator",
           "RtlMode", "VehicleMode", "make_modes"]
