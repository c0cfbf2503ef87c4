"""The wheel works installed (issue 14, items 3, 4 and 5).

Builds the wheel from a clean copy of the source, installs it (not editable)
into a fresh venv, and from a directory outside the repository runs what a
field engineer runs after ``pip install``: ``edgepilot sitl list``, ``sitl
run``, ``warm`` and ``vehicle run --help``.  The same venv runs
``lint-imports`` on the installed layout (grimp finds submodules by walking
the package folder, and only the wheel has every subpackage physically under
``edgepilot/``), and checks that ``edgepilot warm`` leaves the start-up cache
check reading "hit" for every vehicle kernel, maritime included.

The packaging checks that need no build (the ``packages`` list against the
folders) are quick tests.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYPROJECT = REPO / "pyproject.toml"
OTHER_TOP_LEVEL = {"vehicle", "sim", "gcs", "firmware_bridge", "onboard", "configs", "benchmarks", "tests"}
# what never goes into the build copy
_IGNORE = shutil.ignore_patterns(".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", "reports",
                                 ".pytest_cache", ".hypothesis", ".import_linter_cache", "*.nbi", "*.nbc")


# ---------------------------------------------------------------------------
# packages = [...] against the folders (no build)
# ---------------------------------------------------------------------------
def expected_packages(root: Path, pyproject: dict) -> set[str]:
    """Every folder with an __init__.py under a mapped folder, as its
    ``edgepilot.*`` import name."""
    mapping = pyproject["tool"]["setuptools"]["package-dir"]
    out = set()
    for name, folder in mapping.items():
        base = root / folder
        for init in base.rglob("__init__.py"):
            rel = init.parent.relative_to(base)
            if any(p.startswith(".") or p == "__pycache__" for p in rel.parts):
                continue
            out.add(".".join((name, *rel.parts)))
    return out


def packaging_problems(root: Path) -> list[str]:
    """What is wrong with ``root``'s pyproject packaging, in words."""
    py = tomllib.loads((root / "pyproject.toml").read_text())
    listed = set(py["tool"]["setuptools"]["packages"])
    mapping = py["tool"]["setuptools"]["package-dir"]
    problems = []
    found = expected_packages(root, py)
    for name in sorted(found - listed):
        problems.append(f"{name} has an __init__.py but is not in [tool.setuptools] packages: "
                        f"it would be missing from the wheel")
    for name in sorted(listed - found):
        problems.append(f"{name} is listed in packages but has no folder with an __init__.py")
    for name, folder in mapping.items():
        for d in sorted((root / folder).rglob("*")):
            if d.is_dir() and d.name != "__pycache__" and any(d.glob("*.py")) and not (d / "__init__.py").exists():
                problems.append(f"{d.relative_to(root)} holds Python files but no __init__.py: "
                                f"they would not be shipped")
    return problems


def test_packages_list_covers_every_subpackage():
    assert packaging_problems(REPO) == []


def test_unlisted_subpackage_is_caught(tmp_path):
    """The check above fails for a new subpackage that nobody listed."""
    root = tmp_path / "repo"
    py = tomllib.loads(PYPROJECT.read_text())
    for folder in py["tool"]["setuptools"]["package-dir"].values():
        shutil.copytree(REPO / folder, root / folder, ignore=_IGNORE)
    shutil.copy(PYPROJECT, root / "pyproject.toml")
    assert packaging_problems(root) == []
    (root / "vehicle" / "unlisted_pkg").mkdir()
    (root / "vehicle" / "unlisted_pkg" / "__init__.py").write_text("")
    (root / "sim" / "loose").mkdir()
    (root / "sim" / "loose" / "thing.py").write_text("X = 1\n")
    problems = packaging_problems(root)
    assert any("edgepilot.vehicle.unlisted_pkg" in p and "not in [tool.setuptools] packages" in p for p in problems), problems
    assert any("sim/loose" in p and "no __init__.py" in p for p in problems), problems


# ---------------------------------------------------------------------------
# the wheel, installed
# ---------------------------------------------------------------------------
def _run(cmd, cwd, timeout=900, env=None):
    return subprocess.run([str(c) for c in cmd], cwd=str(cwd), capture_output=True, text=True, timeout=timeout,
                          env=env)


def _clean_env() -> dict:
    """No PYTHONPATH and no venv of ours: the installed package is all there is."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV", "PYTHONHOME")}
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _cache_status(py, work, roots) -> tuple[str, int, int]:
    r = _run([py, "-c", "import json, sys; from edgepilot.onboard.kernels import disk_cache_status; "
                        f"print(json.dumps(disk_cache_status({tuple(roots)!r})))"], work, env=_clean_env())
    assert r.returncode == 0, r.stderr
    return tuple(json.loads(r.stdout))


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory):
    """(wheel path, venv python, a work folder outside the repository, the
    kernel cache status right after the install, before anything ran)."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    # a clean copy: a stale build/ in the checkout must not leak into the wheel
    shutil.copytree(REPO, src, ignore=_IGNORE)
    dist = tmp / "dist"
    r = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", "-q", "-w", dist, src], tmp)
    assert r.returncode == 0, r.stdout + r.stderr
    wheels = sorted(dist.glob("edgepilot-*.whl"))
    assert len(wheels) == 1, wheels
    venv = tmp / "venv"
    # The venv gets no pip of its own (seeding one costs seconds): this
    # checkout's pip installs into it (``--python``), the same resolver and
    # the same files as the venv's own pip would install.  ``--no-compile``:
    # the dependencies' .pyc are written on first import, as needed, instead
    # of for every module of numpy, matplotlib, numba, ... up front.
    r = _run([sys.executable, "-m", "venv", "--without-pip", venv], tmp)
    assert r.returncode == 0, r.stderr
    py = venv / "bin" / "python"
    py_test = tomllib.loads(PYPROJECT.read_text())["project"]["optional-dependencies"]["test"]
    linter = [d for d in py_test if d.lower().startswith("import-linter")]
    r = _run([sys.executable, "-m", "pip", "--python", py, "install", "-q", "--no-compile", wheels[0], *linter], tmp,
             env=_clean_env())
    assert r.returncode == 0, r.stdout + r.stderr
    work = tmp / "elsewhere"
    work.mkdir()
    fresh = _cache_status(py, work, ("vehicle",))
    return wheels[0], py, work, fresh


def _ep(wheel_venv, *args, timeout=900):
    _, py, work, _ = wheel_venv
    return _run([py.parent / "edgepilot", *args], work, timeout=timeout, env=_clean_env())


@pytest.mark.slow
def test_wheel_claims_only_the_edgepilot_import_name(wheel_venv):
    whl, py, work, _ = wheel_venv
    with zipfile.ZipFile(whl) as z:
        names = z.namelist()
        dist_info = next(n.split("/")[0] for n in names if n.split("/")[0].endswith(".dist-info"))
        top_level = z.read(f"{dist_info}/top_level.txt").decode().split()
        record = z.read(f"{dist_info}/RECORD").decode().splitlines()
    assert top_level == ["edgepilot"]
    tops = {line.split(",")[0].split("/")[0] for line in record if line}
    assert tops == {"edgepilot", dist_info}, tops
    assert not tops & OTHER_TOP_LEVEL
    # every Python file of every mapped folder is in the wheel, benchmarks and tests are not
    mapping = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-dir"]
    want = set()
    for name, folder in mapping.items():
        for f in (REPO / folder).rglob("*.py"):
            if "__pycache__" not in f.parts:
                want.add("/".join((*name.split("."), *f.relative_to(REPO / folder).parts)))
    assert want - set(names) == set()
    assert not [n for n in names if "benchmarks" in n or "/tests/" in n]
    # the shipped files are package data
    assert "edgepilot/configs/scenarios/ugv_yard.toml" in names
    # and the installed distribution says the same
    r = _run([py, "-c", "import importlib.metadata as m; print(m.distribution('edgepilot').read_text('top_level.txt'))"],
             work, env=_clean_env())
    assert r.stdout.split() == ["edgepilot"], r.stdout + r.stderr
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work).stdout.strip()
    assert not [n for n in OTHER_TOP_LEVEL if (Path(site) / n).exists()]


@pytest.mark.slow
def test_installed_warm_makes_the_vehicle_cache_complete(wheel_venv):
    """A fresh install has no kernel cache; after the real ``edgepilot warm``
    (compiling in two worker processes) the start-up check reads "hit" for
    every vehicle kernel file, the
    maritime ones included (they read "partial" before the warm hook was
    found)."""
    _, py, work, (before, files, _) = wheel_venv
    assert files >= 5
    assert before == "miss"                # nothing cached in a fresh venv
    r = _ep(wheel_venv, "warm", "--jobs", "2")      # compiled in two processes, loaded in this one
    assert r.returncode == 0, r.stdout + r.stderr
    assert "warmed  edgepilot.vehicle.maritime" in r.stdout, r.stdout
    assert "FAILED" not in r.stdout
    assert "(cache miss)" in r.stdout and "compiled in 2 processes" in r.stdout, r.stdout
    # the MAVLink dialect is pre-built too, so no vehicle runs mavgen at start
    dialect = next(ln for ln in r.stdout.splitlines() if ln.startswith("dialect: "))
    assert Path(dialect.split()[2]).is_file(), r.stdout
    status, files2, cached = _cache_status(py, work, ("vehicle",))
    assert (status, cached) == ("hit", files2) and files2 == files
    m_status, m_files, m_cached = _cache_status(py, work, ("vehicle.maritime",))
    assert m_files >= 1 and (m_status, m_cached) == ("hit", m_files)
    # a second warm loads everything from the disk cache
    r = _ep(wheel_venv, "warm")
    assert r.returncode == 0 and "0 compiled now (cache hit)" in r.stdout, r.stdout
    assert f"dialect: cached {dialect.split()[2]}" in r.stdout, r.stdout


@pytest.mark.slow
def test_installed_sitl_list_and_run(wheel_venv):
    _, py, work, _ = wheel_venv
    r = _ep(wheel_venv, "sitl", "list")
    assert r.returncode == 0, r.stdout + r.stderr
    names = [ln.split()[0] for ln in r.stdout.splitlines() if ln.strip()]
    assert "ugv_yard" in names and "usv_harbor" in names, r.stdout
    assert "INVALID" not in r.stdout
    out = work / "run1"
    r = _ep(wheel_venv, "sitl", "run", "--quiet", "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert "result              PASS" in r.stdout
    summary = json.loads((out / "summary.json").read_text())
    assert summary["scenario"] == "ugv_yard" and summary["passed"] is True
    assert (out / "trajectory.png").stat().st_size > 1000
    # the default report folder is relative to where the user runs it, not to the install
    r = _ep(wheel_venv, "sitl", "run", "ugv_hil_short", "--quiet")
    assert r.returncode == 0, r.stdout + r.stderr
    assert (work / "reports" / "ugv_hil_short" / "summary.json").exists()


@pytest.mark.slow
def test_installed_vehicle_run_help(wheel_venv):
    r = _ep(wheel_venv, "vehicle", "run", "--help")
    assert r.returncode == 0, r.stderr
    assert "--config" in r.stdout and "exit codes" in r.stdout


# ---------------------------------------------------------------------------
# import-linter on the installed layout
# ---------------------------------------------------------------------------
def _lint(wheel_venv, cwd, env_extra=None):
    py = wheel_venv[1]
    env = _clean_env()
    env["COLUMNS"] = "250"                 # one contract per line in the report
    env.update(env_extra or {})
    return _run([py.parent / "lint-imports", "--no-cache", PYPROJECT], cwd, env=env, timeout=300)


def test_lint_imports_passes_in_the_checkout():
    """`lint-imports` as a developer runs it, from the repository in the
    editable install: edgepilot/ links each mapped folder (edgepilot/vehicle
    -> ../vehicle, ...), so grimp finds every subpackage on disk."""
    exe = Path(sys.executable).with_name("lint-imports")
    r = subprocess.run([str(exe)], cwd=REPO, capture_output=True, text=True, timeout=300)
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "3 kept, 0 broken" in out, out


def test_checkout_links_every_mapped_folder_under_edgepilot():
    py = tomllib.loads(PYPROJECT.read_text())
    for name, folder in py["tool"]["setuptools"]["package-dir"].items():
        if name == "edgepilot":
            continue
        link = REPO / "edgepilot" / name.split(".", 1)[1]
        assert link.is_symlink() and link.resolve() == (REPO / folder).resolve(), link


@pytest.mark.slow
def test_lint_imports_layers_kept(wheel_venv):
    r = _lint(wheel_venv, wheel_venv[2])
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert "3 kept, 0 broken" in out, out


def _site_copy(wheel_venv, dest: Path) -> Path:
    _, py, work, _ = wheel_venv
    site = _run([py, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work).stdout.strip()
    shutil.copytree(Path(site) / "edgepilot", dest / "edgepilot", ignore=shutil.ignore_patterns("__pycache__"))
    return dest / "edgepilot"


@pytest.mark.slow
@pytest.mark.parametrize("module, line, contract", [
    ("vehicle/maritime/cpa.py", "import edgepilot.sim.world\n", "vehicle is the pure core"),
    ("gcs/tlog.py", "from edgepilot.vehicle.types import Event\n", "gcs speaks MAVLink only"),
    ("firmware_bridge/gps_nmea.py", "from edgepilot.onboard import kernels\n", "Layers"),
])
def test_lint_imports_catches_a_bad_import(wheel_venv, tmp_path, module, line, contract):
    """The same contracts on a copy of the installed package with one
    forbidden import injected: lint-imports fails and names the contract."""
    pkg = _site_copy(wheel_venv, tmp_path / "bad")
    target = pkg / module
    assert target.exists(), target
    target.write_text(line + target.read_text())
    r = _lint(wheel_venv, tmp_path, {"PYTHONPATH": str(tmp_path / "bad")})
    out = r.stdout + r.stderr
    assert r.returncode != 0, out
    broken = [ln for ln in out.splitlines() if ln.rstrip().endswith("BROKEN")]
    assert any(contract in ln for ln in broken), out
    assert module.replace("/", ".").removesuffix(".py") in out, out
