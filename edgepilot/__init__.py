"""edgepilot: edge autonomy for UGVs and USVs.

Everything we ship lives under this one import name: the autonomy core in
``edgepilot.vehicle``, wire adapters in ``edgepilot.firmware_bridge``, the
onboard process in ``edgepilot.onboard``, the simulator in ``edgepilot.sim``,
the operator CLI in ``edgepilot.gcs`` and the shipped files in
``edgepilot.configs``.  In the repository these are top-level folders mapped
under ``edgepilot`` by pyproject.toml.
"""
from importlib import resources
from pathlib import Path

__version__ = "0.1.0"


def configs_dir() -> Path:
    """Folder with the shipped vehicle, scenario, map and mission files
    (package data of ``edgepilot.configs``; pip installs it unpacked)."""
    return Path(str(resources.files("edgepilot.configs")))


def package_dir(name: str) -> Path:
    """Folder of the subpackage ``edgepilot.NAME`` (``vehicle``, ``sim``, ...),
    found without importing it, in a checkout and in an installed wheel."""
    import importlib.util

    spec = importlib.util.find_spec(f"edgepilot.{name}")
    if spec is None or not spec.submodule_search_locations:
        raise ModuleNotFoundError(f"edgepilot.{name} is not installed")
    return Path(list(spec.submodule_search_locations)[0])
