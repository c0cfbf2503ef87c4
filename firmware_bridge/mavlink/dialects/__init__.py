"""edgepilot's MAVLink dialect (``edgepilot.xml``: ardupilotmega.xml plus
the fleet task messages, docs/fleet_dialect.md) as a pymavlink module.

The Python module is generated with pymavlink's own generator, exactly as
``python -m pymavlink.tools.mavgen --lang=Python3 --wire-protocol=2.0``,
on first use, into a cache keyed by the content of our XML and of the
pymavlink XMLs it includes: a pymavlink upgrade regenerates it, nothing
stale is ever loaded, and the 2 MB generated file is not kept in the
repository.  Cache folder: ``$EDGEPILOT_MAVLINK_CACHE``, else
``$XDG_CACHE_HOME/edgepilot/mavlink``, else ``~/.cache/edgepilot/mavlink``.
``generate(path)`` writes the module anywhere (``edgepilot warm`` can
pre-build it on a vehicle with a read-only home).
"""
from __future__ import annotations

from pathlib import Path
from types import ModuleType

from edgepilot import mavgen_cache

DIALECT_XML = Path(__file__).with_name("edgepilot.xml")
MODULE_NAME = "edgepilot_mavlink_dialect"
_loaded: ModuleType | None = None


def source_key() -> str:
    """Hash of every XML the generated module depends on."""
    return mavgen_cache.source_key(DIALECT_XML)


def generate(out_py: str | Path) -> Path:
    """Run mavgen on our XML and write the module to ``out_py`` atomically."""
    return mavgen_cache.generate(DIALECT_XML, out_py)


def module_path() -> Path:
    return mavgen_cache.module_path(DIALECT_XML)


def load() -> ModuleType:
    """The generated dialect module (generated into the cache if missing)."""
    global _loaded
    if _loaded is None:
        _loaded = mavgen_cache.load_module(DIALECT_XML, MODULE_NAME)
    return _loaded
