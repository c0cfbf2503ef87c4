"""Durable file writes for everything ``edgepilot gcs`` saves (missions,
fences, parameter files): a power cut or kill leaves either the old file
or the complete new one, never a torn one."""
from __future__ import annotations

import os
from pathlib import Path


def atomic_write_text(path: str | Path, text: str) -> Path:
    """Write ``text`` (UTF-8) to ``path`` by a temporary file in the same
    folder that is fsynced before it is renamed over ``path``; the folder is
    fsynced after the rename so the new name is on disk too."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(text.encode("utf-8"))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, p)
    try:
        fd = os.open(p.parent, os.O_RDONLY)
    except OSError:
        return p              # a folder that cannot be opened (Windows): the rename is all we get
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
    return p
