"""Helpers for tests that talk over real pseudo-terminals."""
from __future__ import annotations

import select
import time
from pathlib import Path
from typing import Callable


def pump_until(cond: Callable[[], bool], step: Callable[[float], None], fds: list, timeout: float = 5.0,
               now: Callable[[], float] = time.monotonic) -> bool:
    """Call ``step(now)`` whenever one of ``fds`` is readable (or every 5 ms)
    until ``cond()`` holds; False on timeout."""
    deadline = now() + timeout
    while now() < deadline:
        step(now())
        if cond():
            return True
        live = [f for f in fds if f is not None and (f() if callable(f) else f) is not None]
        live = [f() if callable(f) else f for f in live]
        if live:
            select.select(live, [], [], 0.005)
        else:
            time.sleep(0.005)
    return False


def hil_config(tmp_path, lidar: bool = False) -> Path:
    """A copy of configs/vehicles/ugv_hil.toml with device paths under
    ``tmp_path`` and a free MAVLink TCP port (tests can run in parallel)."""
    import socket
    from pathlib import Path

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    src = (Path(__file__).resolve().parent.parent / "configs" / "vehicles" / "ugv_hil.toml").read_text()
    text = src.replace("/tmp/edgepilot-hil", str(tmp_path)).replace("tcpin:127.0.0.1:5790", f"tcpin:127.0.0.1:{port}")
    if lidar:
        text += f'\n[hardware.lidar]\nport = "{tmp_path}/ttyLIDAR"\nmodel = "ld06"\n'
    out = tmp_path / "vehicle_hil.toml"
    out.write_text(text)
    return out


def arm_when_ready(client, link, timeout: float = 30.0) -> None:
    """Arm through ``client`` (a gcs CommandClient), retried while the
    vehicle's pre-arm checks still refuse (a fresh vehicle run needs its
    first GNSS fix and estimate), pumping ``link`` in between."""
    from edgepilot.gcs.errors import RefusedError

    deadline = time.monotonic() + timeout
    while True:
        try:
            client.arm()
            return
        except RefusedError:
            if time.monotonic() > deadline:
                raise
            link.pump_for(0.3)
