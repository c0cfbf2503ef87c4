"""The start-up's kernel-cache check (onboard.kernels.disk_cache_status)
against numba's real disk cache: a package with cached kernels is compiled in
a subprocess, then the check must agree with what numba would do."""
import os
import subprocess
import sys
import textwrap
import time

from edgepilot.onboard.kernels import cached_kernels_in, disk_cache_status

KERNELS = textwrap.dedent('''\
    """Kernels; the words cache=True in a docstring are not a kernel."""
    from numba import njit


    @njit(cache=True, inline="always")
    def _inner(x):
        return x + 1


    @njit(cache=True, nogil=True)
    def outer(x):
        return _inner(x) * 2


    def warm_kernels():
        outer(1)
    ''')


def _make_pkg(tmp_path):
    pkg = tmp_path / "kpkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "_k.py").write_text(KERNELS)
    (pkg / "plain.py").write_text('"""mentions cache=True but has no kernel"""\n')
    return pkg


def _compile(tmp_path):
    env = dict(os.environ, PYTHONPATH=str(tmp_path))
    env.pop("NUMBA_CACHE_DIR", None)
    subprocess.run([sys.executable, "-c", "import kpkg._k as k; k.warm_kernels()"], env=env, check=True,
                   timeout=120)


def test_finds_decorated_kernels_only():
    assert cached_kernels_in(KERNELS) == [("_inner", 5), ("outer", 10)]


def test_status_follows_numba_cache(tmp_path):
    pkg = _make_pkg(tmp_path)
    # nothing compiled yet: one kernel file, none cached
    assert disk_cache_status(("kpkg",), base=tmp_path) == ("miss", 1, 0)
    _compile(tmp_path)
    # the inlined helper is compiled into its caller and has no index of its own
    assert [p.name.split(".")[1] for p in (pkg / "__pycache__").glob("_k.*.nbi")] == ["outer-10"]
    assert disk_cache_status(("kpkg",), base=tmp_path) == ("hit", 1, 1)
    # the source edited after compiling: numba recompiles, so no hit
    later = time.time() + 5
    os.utime(pkg / "_k.py", (later, later))
    assert disk_cache_status(("kpkg",), base=tmp_path) == ("miss", 1, 0)
    # recompiled, then lines shift: the old index no longer names the kernel
    _compile(tmp_path)
    os.utime(pkg / "_k.py", (time.time() - 60, time.time() - 60))
    assert disk_cache_status(("kpkg",), base=tmp_path)[0] == "hit"
    (pkg / "_k.py").write_text("\n\n" + KERNELS)
    os.utime(pkg / "_k.py", (time.time() - 30, time.time() - 30))
    assert disk_cache_status(("kpkg",), base=tmp_path) == ("miss", 1, 0)


def test_warm_writes_bytecode_even_when_python_would_not(tmp_path, monkeypatch):
    from edgepilot.onboard.kernels import compile_bytecode

    pkg = _make_pkg(tmp_path)
    (pkg / "broken.py").write_text("def f(:\n")
    monkeypatch.setattr(sys, "dont_write_bytecode", True)     # PYTHONDONTWRITEBYTECODE=1
    modules, failed = compile_bytecode(("kpkg",), base=tmp_path)
    assert (modules, failed) == (4, 1)
    written = sorted(p.name.split(".")[0] for p in (pkg / "__pycache__").glob("*.pyc"))
    assert written == ["__init__", "_k", "plain"]


def test_warm_builds_the_mavlink_dialect_once(tmp_path, monkeypatch):
    """``edgepilot warm`` pre-builds the generated dialect module into its
    cache (a vehicle with a read-only home points EDGEPILOT_MAVLINK_CACHE at
    a writable folder and warms once); a second warm finds it."""
    from edgepilot.onboard.kernels import warm_dialect

    monkeypatch.setenv("EDGEPILOT_MAVLINK_CACHE", str(tmp_path / "mav"))
    path, built = warm_dialect()
    assert built and path.parent == tmp_path / "mav" and path.exists()
    assert "MAVLink_" in path.read_text()
    assert warm_dialect() == (path, False)
