"""A MAVLink dialect XML as a pymavlink module, generated once into a cache.

pymavlink's own generator (``python -m pymavlink.tools.mavgen
--lang=Python3 --wire-protocol=2.0``) runs with pymavlink's XMLs beside
ours, so ``<include>ardupilotmega.xml</include>`` resolves.  The module is
cached under a name keyed by the content of our XML and of every pymavlink
XML: a pymavlink upgrade regenerates it and nothing stale is ever loaded.
Cache folder: ``$EDGEPILOT_MAVLINK_CACHE``, else ``$XDG_CACHE_HOME`` (or
``~/.cache``) ``/edgepilot/mavlink``.

Standard library and pymavlink only: the vehicle side
(``firmware_bridge.mavlink.dialects``) and the ground station
(``gcs.dialect``, which may import MAVLink formats only) both use it, so
they name and build the same file.
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

from edgepilot.atomic import atomic_write_text


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


def source_key(xml: Path) -> str:
    """Hash of every XML the generated module depends on."""
    h = hashlib.sha256(Path(xml).read_bytes())
    for p in sorted(pymavlink_xml_dir().glob("*.xml")):
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()[:20]


def module_path(xml: Path) -> Path:
    """Where the module of ``xml`` is cached."""
    return cache_dir() / f"{Path(xml).stem}_{source_key(xml)}.py"


def generate(xml: Path, out_py: str | Path) -> Path:
    """Run mavgen on ``xml`` and write the module to ``out_py`` (atomic,
    fsynced).  RuntimeError with mavgen's output when it fails."""
    xml, out_py = Path(xml), Path(out_py)
    out_py.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="edgepilot-mavgen-") as tmp:
        t = Path(tmp)
        for p in pymavlink_xml_dir().glob("*.xml"):
            shutil.copy(p, t / p.name)
        shutil.copy(xml, t / xml.name)
        gen = t / "generated.py"
        r = subprocess.run([sys.executable, "-m", "pymavlink.tools.mavgen", "--lang=Python3",
                            "--wire-protocol=2.0", f"--output={gen}", str(t / xml.name)],
                           capture_output=True, text=True)
        if r.returncode != 0 or not gen.exists():
            raise RuntimeError(f"mavgen failed on {xml} (exit {r.returncode}):\n{r.stdout}{r.stderr}")
        atomic_write_text(out_py, gen.read_text())
    return out_py


def load_module(xml: Path, module_name: str) -> ModuleType:
    """The module of ``xml`` from the cache (generated into it if missing)."""
    path = module_path(xml)
    if not path.exists():
        generate(xml, path)
    spec = importlib.util.spec_from_file_location(module_name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = mod
    spec.loader.exec_module(mod)
    return mod
