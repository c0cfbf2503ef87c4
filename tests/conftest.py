"""Shared test helpers."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def edgepilot_cmd() -> list[str]:
    """The installed ``edgepilot`` console script (a real subprocess, as a
    user runs it); falls back to ``python -m edgepilot`` in a bare checkout."""
    script = Path(sys.executable).parent / "edgepilot"
    if script.exists():
        return [str(script)]
    found = shutil.which("edgepilot")
    return [found] if found else [sys.executable, "-m", "edgepilot"]


def run_edgepilot(*args: str, timeout: float = 300, cwd: Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    return subprocess.run(edgepilot_cmd() + list(args), capture_output=True, text=True, timeout=timeout,
                          cwd=cwd or REPO, env=env)


@pytest.fixture
def ep():
    return run_edgepilot
