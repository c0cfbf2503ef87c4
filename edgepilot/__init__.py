"""edgepilot: edge autonomy for UGVs and USVs.

This package only holds the ``edgepilot`` command dispatcher; the autonomy
core lives in ``vehicle``, the simulator in ``sim``, wire adapters in
``firmware_bridge`` and the operator CLI in ``gcs``.
"""
from pathlib import Path

__version__ = "0.1.0"

REPO_ROOT = Path(__file__).resolve().parent.parent


def configs_dir() -> Path:
    """Folder with the shipped vehicle, scenario, map and mission files."""
    return REPO_ROOT / "configs"
