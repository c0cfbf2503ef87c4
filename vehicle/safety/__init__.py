"""Safety: pre-arm checks, geofences, failsafes and the loop watchdog.

``SafetyManager`` is the one object the vehicle core talks to; the other
modules are its parts (see each module's docstring for the rules)."""
from .failsafe import Action, FailsafeManager, Recovery, SafetyInputs, Trigger, default_triggers
from .geofence import Fence, FenceError, FenceZoneSpec, load_fence_file, specs_to_items
from .manager import CoreView, SafetyManager
from .watchdog import LoopWatchdog

__all__ = ["Action", "CoreView", "FailsafeManager", "Fence", "FenceError", "FenceZoneSpec", "LoopWatchdog", "Recovery",
           "SafetyInputs", "SafetyManager", "Trigger", "default_triggers", "load_fence_file", "specs_to_items"]
