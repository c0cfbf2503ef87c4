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

import hashlib
import importlib.util
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path
from types import ModuleType

import pymavlink

DIALECT_XML = Path(__file__).with_name("edgepilot.xml")
MODULE_NAME = "edgepilot_mavlink_dialect"
_loaded: ModuleType | None = None


def pymavlink_xml_dir() -> Path:
    """pymavlink's MAVLink 2 message definitions (ardupilotmega.xml and
    the files it includes)."""
    return Path(pymavlink.__file__).parent / "dialects" / "v20"


def cache_dir() -> Path:
    env = os.environ.get("EDGEPILOT_MAVLINK_CACHE")
    if env:
        return Path(env)
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "edgepilot" / "mavlink"


def source_key() -> str:
    """Hash of every XML the generated module depends on."""
    h = hashlib.sha256(DIALECT_XML.read_bytes())
    for p in sorted(pymavlink_xml_dir().glob("*.xml")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def generate(out_py: str | Path) -> Path:
    """Run mavgen on our XML (with pymavlink's XMLs beside it so the
    ``<include>`` resolves) and write the module to ``out_py`` atomically."""
    out_py = Path(out_py)
    out_py.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgepilot-mavgen-") as tmp:
        t = Path(tmp)
        for p in pymavlink_xml_dir().glob("*.xml"):
            shutil.copy(p, t / p.name)
        shutil.copy(DIALECT_XML, t / DIALECT_XML.name)
        gen = t / "edgepilot.py"
        r = subprocess.run([sys.executable, "-m", "pymavlink.tools.mavgen", "--lang=Python3",
                            "--wire-protocol=2.0", f"--output={gen}", str(t / DIALECT_XML.name)],
                           capture_output=True, text=True)
        if r.returncode != 0 or not gen.exists():
            raise RuntimeError(f"mavgen failed on {DIALECT_XML} (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        fd, part = tempfile.mkstemp(dir=out_py.parent, prefix=out_py.name, suffix=".part")
        os.close(fd)
        shutil.copy(gen, part)
        os.replace(part, out_py)
    return out_py


def module_path() -> Path:
    return cache_dir() / f"edgepilot_{source_key()}.py"


def load() -> ModuleType:
    """The generated dialect module (generated into the cache if missing)."""
    global _loaded
    if _loaded is not None:
        return _loaded
    path = module_path()
    if not path.exists():
        generate(path)
    spec = importlib.util.spec_from_file_location(MODULE_NAME, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[MODULE_NAME] = mod
    spec.loader.exec_module(mod)
    _loaded = mod
    return mod
