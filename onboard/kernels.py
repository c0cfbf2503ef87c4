"""Ahead-of-time warming of every numba kernel, and the cache report.

Each package that owns kernels exposes ``warm_kernels()`` (compile, or load
from numba's on-disk cache, on tiny inputs).  This module finds them by
import, so it keeps working as packages gain or lose kernels, and reads the
dispatchers' compile statistics to tell a cache hit (loaded from disk) from a
miss (compiled now).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
import re
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

#: Subpackages of ``edgepilot`` searched for ``warm_kernels`` (each one and
#: its direct subpackages).  The onboard start-up checks the vehicle's; ``edgepilot
#: warm`` warms all of them.
VEHICLE_ROOTS = ("vehicle",)
SIM_ROOTS = ("sim",)


def _pkg_dir(root: str, base) -> Path:
    if base is not None:
        return Path(base) / root
    import edgepilot

    return edgepilot.package_dir(root)


@dataclass
class WarmReport:
    warmed: list[str] = field(default_factory=list)      # modules whose warm_kernels ran
    failed: dict[str, str] = field(default_factory=dict)  # module -> error
    kernels: int = 0                                       # dispatchers seen
    cache_hits: int = 0                                    # signatures loaded from the disk cache
    compiled: int = 0                                      # signatures compiled in this process
    seconds: float = 0.0
    processes: int = 1                                     # processes that compiled (1: this one)

    @property
    def status(self) -> str:
        if self.kernels == 0:
            return "no kernels"
        return "hit" if self.compiled == 0 else ("miss" if self.cache_hits == 0 else "partial")


def _candidates(roots) -> list[str]:
    names = []
    for root in roots:
        full = f"edgepilot.{root}"
        try:
            pkg = importlib.import_module(full)
        except ImportError:
            continue
        names.append(full)
        for m in pkgutil.iter_modules(pkg.__path__, prefix=full + "."):
            names.append(m.name)
    return names


def dispatcher_stats(prefixes=("edgepilot.vehicle.", "edgepilot.sim.", "edgepilot.firmware_bridge.")) -> tuple[int, int, int]:
    """(kernels, cache hits, compilations) over every numba dispatcher in loaded modules."""
    try:
        from numba.core.registry import CPUDispatcher
    except ImportError:          # pragma: no cover - numba is a hard dependency
        return 0, 0, 0
    seen = set()
    kernels = hits = compiled = 0
    for name, mod in list(sys.modules.items()):
        if mod is None or not name.startswith(prefixes):
            continue
        for obj in list(vars(mod).values()):
            if isinstance(obj, CPUDispatcher) and id(obj) not in seen:
                seen.add(id(obj))
                kernels += 1
                st = obj.stats
                hits += sum(st.cache_hits.values())
                compiled += sum(st.cache_misses.values())
    return kernels, hits, compiled


def default_jobs() -> int:
    """Processes ``edgepilot warm`` compiles in: the CPUs this process may
    use, at most ``MAX_WARM_JOBS``."""
    try:
        n = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        n = os.cpu_count() or 1
    return max(1, min(n, MAX_WARM_JOBS))


#: More processes than this gain nothing: two packages (planning and
#: perception) hold about half of the compile time.
MAX_WARM_JOBS = 4


def _warm_one(name: str) -> tuple[str | None, bool]:
    """Import ``name`` and run its ``warm_kernels`` if it has one.
    Returns (error or None, whether it ran)."""
    try:
        mod = importlib.import_module(name)
    except Exception as e:       # a package that cannot import is reported, not fatal
        return f"import failed: {e}", False
    fn = getattr(mod, "warm_kernels", None)
    if not callable(fn):
        return None, False
    try:
        fn()
    except Exception as e:
        return f"{type(e).__name__}: {e}", False
    return None, True


def _warm_in_worker(name: str) -> tuple[str | None, int]:
    """In a worker process: ``_warm_one`` (compiling into numba's disk
    cache).  Returns (error or None, signatures compiled)."""
    before = dispatcher_stats()[2]
    err, _ = _warm_one(name)
    return err, dispatcher_stats()[2] - before


def _kernel_count(name: str) -> int:
    """Disk-cached kernels defined in the module or package ``name`` (a
    package's own modules, not its subpackages'), read from the source: a
    proxy for its compile time."""
    import importlib.util

    try:
        spec = importlib.util.find_spec(name)
        if spec is None:
            return 0
        if spec.submodule_search_locations:
            files = list(Path(list(spec.submodule_search_locations)[0]).glob("*.py"))
        else:
            files = [Path(spec.origin)] if spec.origin else []
        return sum(len(cached_kernels_in(f.read_text(errors="replace"))) for f in files)
    except (OSError, ImportError, ValueError):
        return 0


def _compile_in_workers(names: list[str], jobs: int) -> tuple[dict[str, str], int]:
    """Compile the kernels of ``names`` in ``jobs`` fresh processes at once
    (numba compiles on one core; its disk cache is shared through the
    files).  Returns (module -> error, signatures compiled)."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    failed: dict[str, str] = {}
    compiled = 0
    # the packages with the most kernels first, so that no large one is
    # left to run alone at the end
    names = sorted(names, key=_kernel_count, reverse=True)
    ctx = multiprocessing.get_context("spawn")      # no fork of a process with numba/threads loaded
    with ProcessPoolExecutor(max_workers=jobs, mp_context=ctx) as pool:
        futures = {pool.submit(_warm_in_worker, n): n for n in names}
        for fut, name in futures.items():
            try:
                err, n = fut.result()
            except Exception as e:                  # a worker that died (killed, out of memory)
                err, n = f"worker failed: {type(e).__name__}: {e}", 0
            if err:
                failed[name] = err
            compiled += n
    return failed, compiled


def warm_all(include_sim: bool = True, jobs: int = 1) -> WarmReport:
    """Import every package with ``warm_kernels`` and run it.  With
    ``jobs`` > 1 and kernels to compile, the compiling is done first in
    that many worker processes at once, and this process then loads every
    kernel from the disk cache they wrote (so the report and this
    process's kernels are the same as a serial warm's)."""
    rep = WarmReport()
    t0 = time.perf_counter()
    roots = VEHICLE_ROOTS + (SIM_ROOTS if include_sim else ())
    names = _candidates(roots)
    compiled_elsewhere = 0
    # (a cache moved by NUMBA_CACHE_DIR cannot be checked without numba:
    # then the workers run and find what is cached themselves)
    if jobs > 1 and (os.environ.get("NUMBA_CACHE_DIR") or disk_cache_status(roots)[0] != "hit"):
        rep.failed, compiled_elsewhere = _compile_in_workers(names, jobs)
        rep.processes = jobs
    for name in names:
        if name in rep.failed:
            continue
        err, ran = _warm_one(name)
        if err:
            rep.failed[name] = err
        elif ran:
            rep.warmed.append(name)
    rep.kernels, rep.cache_hits, rep.compiled = dispatcher_stats()
    # what the workers compiled, this process loaded: count it as compiled
    rep.cache_hits -= min(compiled_elsewhere, rep.cache_hits)
    rep.compiled += compiled_elsewhere
    rep.seconds = time.perf_counter() - t0
    return rep


#: The project's packages whose bytecode ``edgepilot warm`` writes ahead of time.
BYTECODE_PACKAGES = ("vehicle", "firmware_bridge", "gcs", "sim", "onboard", "configs")


def compile_bytecode(packages=BYTECODE_PACKAGES, base=None) -> tuple[int, int]:
    """Write the ``.pyc`` of every module in ``packages`` (under ``base``,
    default the installed ``edgepilot`` package), and of ``edgepilot`` itself:
    an interpreter run with
    PYTHONDONTWRITEBYTECODE, or as a user who cannot write the install,
    would otherwise compile every module from source at each start.
    Returns (modules, failures); a read-only install is reported, not fatal."""
    import compileall

    dirs = [_pkg_dir(pkg, base) for pkg in packages]
    if base is None:
        import edgepilot

        dirs.append(Path(edgepilot.__file__).parent)
    sources = [src for d in dirs for src in sorted(d.rglob("*.py"))]
    # compile_file skips an up-to-date .pyc and returns False on any failure
    failed = sum(not compileall.compile_file(str(src), quiet=2) for src in sources)
    return len(sources), failed


def warm_dialect() -> tuple[Path, bool]:
    """Generate our MAVLink dialect module into its cache unless a current
    one is there (the fleet link and the alert stream load it), so the first
    vehicle start does not run mavgen.  Returns (module path, built now)."""
    from edgepilot.firmware_bridge.mavlink import dialects

    path = dialects.module_path()
    built = not path.exists()
    if built:
        dialects.generate(path)
    dialects.load()
    return path, built


def warm_cli(args) -> int:
    """``edgepilot warm``: write the bytecode, pre-build the MAVLink dialect,
    then compile and cache every kernel; exit 1 if the dialect or any kernel
    failed."""
    t0 = time.perf_counter()
    n_mod, n_bad = compile_bytecode()
    print(f"bytecode: {n_mod} modules" + (f", {n_bad} could not be written" if n_bad else "")
          + f" in {time.perf_counter() - t0:.2f} s")
    t0 = time.perf_counter()
    dialect_failed = False
    try:
        path, built = warm_dialect()
        print(f"dialect: {'generated' if built else 'cached'} {path} in {time.perf_counter() - t0:.2f} s")
    except (OSError, RuntimeError) as e:
        dialect_failed = True
        print(f"  FAILED  MAVLink dialect: {e} (set EDGEPILOT_MAVLINK_CACHE to a writable folder)")
    jobs = args.jobs if getattr(args, "jobs", None) else default_jobs()
    rep = warm_all(jobs=jobs)
    for name in rep.warmed:
        print(f"  warmed  {name}")
    for name, err in rep.failed.items():
        print(f"  FAILED  {name}: {err}")
    print(f"{rep.kernels} kernels: {rep.cache_hits} loaded from cache, {rep.compiled} compiled now "
          f"(cache {rep.status}) in {rep.seconds:.2f} s"
          + (f", compiled in {rep.processes} processes" if rep.compiled and rep.processes > 1 else ""))
    return 1 if rep.failed or dialect_failed else 0


#: A numba kernel compiled with an on-disk cache: its decorator line
#: (``@njit(..., cache=True)``, ``@numba.njit(...)``, ``@jit(...)``) and the
#: name in the ``def`` that follows.  A mere mention of the keyword elsewhere
#: (a docstring, this module) does not count.
_CACHED_KERNEL = re.compile(r"^[ \t]*@(?:numba\.)?n?jit\([^)]*\bcache\s*=\s*True[^\n]*\n"
                            r"(?:[ \t]*@[^\n]*\n)*[ \t]*def[ \t]+(\w+)", re.MULTILINE)


def cached_kernels_in(text: str) -> list[tuple[str, int]]:
    """(function name, decorator line number) of each disk-cached numba
    kernel defined at module level in the source ``text``; numba names the
    kernel's cache index after exactly these (``STEM.NAME-LINE.pyXY.nbi``)."""
    return [(m.group(1), text.count("\n", 0, m.start()) + 1)
            for m in _CACHED_KERNEL.finditer(text) if not text[m.start()].isspace()]


def disk_cache_status(roots=VEHICLE_ROOTS, base=None) -> tuple[str, int, int]:
    """Without importing anything: (status, kernel source files, files whose
    kernels numba will load from its disk cache rather than compile).

    Numba keys a kernel's cache index by module, function name and the line
    of its first decorator (``STEM.NAME-LINE.pyXY.nbi`` in ``__pycache__``)
    and loads instead of compiling when the index is at least as new as the
    source.  A file counts as cached when some kernel has such a fresh index
    and none has a stale one.  Indexes left behind by older versions of the
    file (other line numbers) are ignored, as numba ignores them; so are
    kernels without any index: helpers called only from other kernels are
    compiled into their callers and never get one of their own.  ``roots``
    are ``edgepilot`` subpackages (or, with ``base``, folders under it)."""
    tag = f"py{sys.version_info[0]}{sys.version_info[1]}{getattr(sys, 'abiflags', '')}"
    files = cached = 0
    for root in roots:
        for src in _pkg_dir(root, base).rglob("*.py"):
            try:
                text = src.read_text(errors="replace")
                src_mtime = src.stat().st_mtime
            except OSError:
                continue
            # the substring test first: most modules have no kernel, and the
            # line-anchored pattern is the slow part of this start-up step
            kernels = cached_kernels_in(text) if "cache=True" in text else []
            if not kernels:
                continue
            files += 1
            fresh = stale = 0
            for name, line in kernels:
                try:
                    t = (src.parent / "__pycache__" / f"{src.stem}.{name}-{line}.{tag}.nbi").stat().st_mtime
                except OSError:
                    continue
                if t >= src_mtime:
                    fresh += 1
                else:
                    stale += 1
            if fresh and not stale:
                cached += 1
    if files == 0:
        return "no kernels", 0, 0
    return ("hit" if cached == files else ("miss" if cached == 0 else "partial")), files, cached


def warm_in_background(on_done=None, before=None):
    """Load/compile every kernel on a daemon thread (the first plan then pays
    no JIT time); ``before()`` runs first on that thread and
    ``on_done(WarmReport)`` last.  If ``before`` raises, nothing else runs."""
    import threading

    def work():
        if before is not None:
            before()
        rep = warm_all(include_sim=False)
        if on_done:
            on_done(rep)

    th = threading.Thread(target=work, name="kernel-warm", daemon=True)
    th.start()
    return th
