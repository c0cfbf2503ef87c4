"""Lidar localization benchmarks: peers and ours on the same inputs.

Run by hand:  python benchmarks/localization.py [--quick] [--global (section 3 only)]
(KISS-ICP comes with the bench extra: pip install -e '.[bench]')

World: a 50 x 50 m yard at 5 cm (a 1,000 x 1,000 likelihood field), walls
and seeded random boxes; a 360-beam lidar (25 m, 1 cm noise) raycast on it.

1. Particle filter update, 2,000 particles x 180 beams: ours
   (ParticleFilter.update: numba weighting, then normalise / ESS /
   resample), on one thread and with the parallel kernel (threads = the
   cores), vs the same update with the weighting in tuned, vectorised NumPy
   (``particle_weights_numpy`` in vehicle/localization/_reference.py:
   blocked matrix-product endpoints, one ``take`` per block; the tests hold
   it to the plain oracle).  The plain oracle (``particle_weights_ref``) is
   printed for reference, not used for the ratio.  Target <= 3 ms and
   >= 20x.  What bounds the ratio: both sides do the same 360,000 lookups into
   a 2 MB table at random cells.  Ours costs ~1.3 ns a lookup warm, the
   same with every particle on one pose, so it is not cache misses: the
   endpoint arithmetic plus the gather, which x86 emulates with one
   extract, load and insert per element for a uint16 table.  The tuned
   NumPy spends ~1.1 ms on the ``take`` alone and ~3 ms in all.  So 20x
   would need ~0.15 ms on one core, about one cycle per lookup.  A
   float32 endpoint, a uint32 table with hardware gathers and particles
   sorted for locality were each measured, and none gained more than the
   noise; float32 also moves endpoints across cell borders, which changes
   the weights.
2. Scan registration along a simulated trajectory (the same scans for
   both): ours (ScanMatcher on the prior map, prior = previous pose moved
   by the constant-velocity guess, as KISS-ICP predicts) vs KISS-ICP
   (its Python pipeline, the 2-D points fed with z = 0, one thread,
   deskew off).  Time per scan and ATE against ground truth: KISS-ICP is
   odometry, so its trajectory is first aligned to the truth (rigid 2-D,
   Umeyama/Horn); ours is in the map frame and reported both raw and
   aligned.  Target: faster per scan and a lower ATE.
3. Global search (re-localization with no prior): the coarse scoring --
   every coarse cell of the free space at a subset of the heading bins --
   ours (numba ``global_scores``) vs the same sums in NumPy (one heading at
   a time, ``global_scores_ref``); then the whole search (coarse, verify,
   decide) from random poses: time per search, how many found, and their
   error.
Prints medians of interleaved rounds and the ratios.
"""
from __future__ import annotations

import math
import os
import statistics
import sys
import time
from dataclasses import replace

import numpy as np

from edgepilot.sim.sensors.lidar import Lidar, LidarSpec
from edgepilot.vehicle.localization import (MatcherParams, ParticleFilter, ParticleFilterParams, ScanMatcher,
                                            build_likelihood_field, scan_endpoints)
from edgepilot.vehicle.localization._kernels import global_scores
from edgepilot.vehicle.localization._reference import global_scores_ref, particle_weights_numpy, particle_weights_ref
from edgepilot.vehicle.localization.global_search import GlobalSearch
from edgepilot.vehicle.localization.particle_filter import weigh_particles
from edgepilot.vehicle.maps import GridMap

QUICK = "--quick" in sys.argv
RES = 0.05
SIZE = 50.0


def trajectory(n: int, dt: float = 0.1) -> np.ndarray:
    """(t, x, y, yaw) rows: a smooth loop around the yard's middle at ~1.2 m/s."""
    t = np.arange(n) * dt
    a = 0.06 * t
    x = 25 + 15 * np.cos(a) + 2 * np.cos(2 * a)
    y = 25 + 12 * np.sin(a) + 1.5 * np.sin(3 * a)
    yaw = np.arctan2(np.gradient(y), np.gradient(x))
    return np.column_stack((t, x, y, yaw))


def yard(path: np.ndarray) -> GridMap:
    n = int(SIZE / RES)
    occ = np.zeros((n, n), bool)
    w = int(0.3 / RES)
    occ[:w], occ[-w:], occ[:, :w], occ[:, -w:] = True, True, True, True
    rng = np.random.default_rng(42)
    placed = 0
    while placed < 60:
        cx, cy = rng.uniform(2, SIZE - 2, 2)
        hx, hy = rng.uniform(0.2, 2.0, 2)
        if np.min(np.hypot(path[:, 1] - cx, path[:, 2] - cy)) < max(hx, hy) * 1.5 + 1.5:
            continue
        occ[int((cy - hy) / RES):int((cy + hy) / RES), int((cx - hx) / RES):int((cx + hx) / RES)] = True
        placed += 1
    return GridMap(occ, RES)


def _median_rounds(fns: dict, rounds: int, inner: int) -> dict:
    """Per name: (median wall s, best wall s, median CPU s) per call.  The
    machine is shared: CPU time (time.process_time) is what the code itself
    used, wall time includes waiting for a core."""
    times = {k: [] for k in fns}
    cpu = {k: [] for k in fns}
    for _ in range(rounds):
        for name, fn in fns.items():
            t0, c0 = time.perf_counter(), time.process_time()
            for _ in range(inner):
                fn()
            times[name].append((time.perf_counter() - t0) / inner)
            cpu[name].append((time.process_time() - c0) / inner)
    return {k: (statistics.median(v), min(v), statistics.median(cpu[k])) for k, v in times.items()}


def bench_particle_filter(field, grid, path):
    # 40 m range: every beam returns inside the walled yard, so 180 beams count
    lidar = Lidar(LidarSpec(beams=360, fov_deg=360.0, max_range=40.0, noise_std=0.01), np.random.default_rng(1))
    truth = path[50, 1:4]
    scan = lidar.scan(0.0, truth, grid.occupied, grid.resolution, (0.0, 0.0))
    bx, by = scan_endpoints(scan)                  # every valid beam, then 180 of them evenly
    pick = np.round(np.linspace(0, bx.size - 1, 180)).astype(int)
    bx, by = np.ascontiguousarray(bx[pick]), np.ascontiguousarray(by[pick])
    params = ParticleFilterParams(particles=2000)
    threads = max(2, os.cpu_count() or 1)
    filters = {"ours (numba, 1 thread)": ParticleFilter(field, np.random.default_rng(0), params),
               f"ours (numba, {threads} threads)": ParticleFilter(field, np.random.default_rng(0),
                                                              replace(params, threads=threads))}
    peer = ParticleFilter(field, np.random.default_rng(0), params)
    plain = ParticleFilter(field, np.random.default_rng(0), params)
    for pf in (*filters.values(), peer, plain):
        pf.initialise(*truth, xy_std=0.5, yaw_std=0.2)
    start = peer.poses.copy()
    rows, cols = field.cube.shape

    def numpy_update(pf, weights):
        # the same update as ParticleFilter.update, the weighting in NumPy
        lik = weights(pf.poses)
        w = pf.weights * lik
        pf.weights = w / w.sum()
        if 1.0 / np.sum(pf.weights ** 2) < params.resample_ess * params.particles:
            pf.resample()

    def tuned(poses):
        return particle_weights_numpy(poses, bx, by, field.cube_flat, rows, cols, field.cube_scale,
                                      field.resolution, field.origin_x, field.origin_y)

    def oracle(poses):
        return particle_weights_ref(poses, bx, by, field.cube, field.cube_scale, field.resolution,
                                    field.origin_x, field.origin_y, field.cube_outside)

    def reset():
        for pf in (*filters.values(), peer, plain):
            pf.poses[:] = start
            pf.weights[:] = 1.0 / params.particles

    # same numbers first
    reset()
    ref = oracle(start)
    assert np.allclose(tuned(start), ref, rtol=1e-12)
    for pf in filters.values():
        assert np.allclose(weigh_particles(field, start, bx, by, threads=pf.params.threads), ref, rtol=1e-12)
    rounds = 3 if QUICK else 7
    fns = {"peer (NumPy, tuned)": lambda: (reset(), numpy_update(peer, tuned))}
    for name, pf in filters.items():
        fns[name] = (lambda pf=pf: (reset(), pf.update(bx, by)))
    fns["(NumPy plain oracle)"] = lambda: (reset(), numpy_update(plain, oracle))
    res = _median_rounds(fns, rounds, 5 if QUICK else 20)
    print(f"1. particle filter update: {params.particles} particles x {bx.size} beams, "
          f"{field.shape[0]}x{field.shape[1]} likelihood field (median; best; CPU = all threads)")
    for name, (med, best, c) in res.items():
        print(f"   {name:26s} {med * 1e3:8.3f} ms  (best {best * 1e3:7.3f} ms, CPU {c * 1e3:7.3f} ms)")
    p, pb, pc = res["peer (NumPy, tuned)"]
    for name in filters:
        o, ob, oc = res[name]
        print(f"   {name}: ratio wall {p / o:.1f}x (best/best {pb / ob:.1f}x), CPU {pc / oc:.1f}x;  "
              f"<= 3 ms: {'met' if o <= 3e-3 else 'NOT met'};  >= 20x: {'met' if p / o >= 20 else 'NOT met'}")


def _align(est: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """Rigid 2-D alignment (rotation + translation) of est onto gt, least squares."""
    me, mg = est.mean(axis=0), gt.mean(axis=0)
    E, G = est - me, gt - mg
    U, _, Vt = np.linalg.svd(E.T @ G)
    D = np.diag([1.0, np.sign(np.linalg.det(Vt.T @ U.T))])
    R = Vt.T @ D @ U.T
    return (R @ E.T).T + mg


def _ate(est, gt, align):
    est = _align(est, gt) if align else est
    return float(np.sqrt(np.mean(np.sum((est - gt) ** 2, axis=1))))


def bench_registration(field, grid, path):
    lidar = Lidar(LidarSpec(beams=360, fov_deg=360.0, max_range=25.0, noise_std=0.01), np.random.default_rng(2))
    scans = [lidar.scan(r[0], r[1:4], grid.occupied, grid.resolution, (0.0, 0.0)) for r in path]
    pts = []
    for s in scans:
        bx, by = scan_endpoints(s)
        pts.append((bx, by))
    gt = path[:, 1:3]

    # ours: sequential matching on the prior map, constant-velocity prior
    matcher = ScanMatcher(field, MatcherParams())
    est = np.zeros((len(path), 3))
    est[0] = path[0, 1:4]
    t_ours = []
    ok = 0
    for k in range(1, len(path)):
        if k >= 2:
            d = est[k - 1] - est[k - 2]
            c, s = math.cos(est[k - 2, 2]), math.sin(est[k - 2, 2])
            fwd, lat = c * d[0] + s * d[1], -s * d[0] + c * d[1]
            c1, s1 = math.cos(est[k - 1, 2]), math.sin(est[k - 1, 2])
            prior = (est[k - 1, 0] + c1 * fwd - s1 * lat, est[k - 1, 1] + s1 * fwd + c1 * lat, est[k - 1, 2] + d[2])
        else:
            prior = tuple(est[0])
        t0 = time.perf_counter()
        bx, by = scan_endpoints(scans[k], 180)
        fix = matcher.match(path[k, 0], bx, by, prior)
        t_ours.append(time.perf_counter() - t0)
        est[k] = (fix.x, fix.y, fix.yaw) if fix.ok else prior
        ok += fix.ok

    try:
        from kiss_icp.config import KISSConfig
        from kiss_icp.kiss_icp import KissICP
    except ImportError:
        print("2. scan registration: kiss-icp not installed (pip install -e '.[bench]'); ours only")
        kiss = None
    else:
        cfg = KISSConfig()
        cfg.data.max_range = 25.0
        cfg.data.min_range = 0.0
        cfg.data.deskew = False
        cfg.registration.max_num_threads = 1
        cfg.mapping.voxel_size = cfg.data.max_range / 100.0     # KISS-ICP's own default rule
        kiss = KissICP(cfg)
        t_kiss = []
        kpose = []
        for bx, by in pts:
            frame = np.column_stack((bx, by, np.zeros_like(bx)))
            t0 = time.perf_counter()
            kiss.register_frame(frame, np.zeros(0))
            t_kiss.append(time.perf_counter() - t0)
            kpose.append(kiss.last_pose[:2, 3].copy())
        kpose = np.array(kpose)
        # KISS-ICP starts at the origin in its own frame: put its first pose on the truth's
        c, s = math.cos(path[0, 3]), math.sin(path[0, 3])
        kxy = np.column_stack((c * kpose[:, 0] - s * kpose[:, 1], s * kpose[:, 0] + c * kpose[:, 1])) + gt[0]
    print(f"2. scan registration, {len(path)} scans of 360 beams along a {np.sum(np.hypot(*np.diff(gt, axis=0).T)):.0f} m "
          "loop (median per scan; ATE RMS)")
    mo = statistics.median(t_ours)
    print(f"   ours (map matcher, 180 beams)  {mo * 1e3:7.3f} ms/scan   ATE raw {_ate(est[:, :2], gt, False):.4f} m, "
          f"aligned {_ate(est[:, :2], gt, True):.4f} m   ({ok}/{len(path) - 1} fixes accepted)")
    if kiss is not None:
        mk = statistics.median(t_kiss[1:])
        print(f"   peer (KISS-ICP, all points)    {mk * 1e3:7.3f} ms/scan   ATE raw {_ate(kxy, gt, False):.4f} m, "
              f"aligned {_ate(kxy, gt, True):.4f} m")
        print(f"   ratio (time): {mk / mo:.1f}x;  ATE (aligned) peer/ours: "
              f"{_ate(kxy, gt, True) / max(_ate(est[:, :2], gt, True), 1e-9):.1f}x")


def bench_global_search(field, grid, path):
    lidar = Lidar(LidarSpec(beams=360, fov_deg=360.0, max_range=20.0, noise_std=0.02), np.random.default_rng(5))
    gs = GlobalSearch(field)
    truth = path[50, 1:4]
    bx, by = scan_endpoints(lidar.scan(0.0, truth, grid.occupied, grid.resolution, (0.0, 0.0)), 60)
    coarse = gs.coarse_field(0.5)
    yaws = np.ascontiguousarray(gs.yaws[::10])
    out = np.empty((yaws.size, gs.cand_x.size), np.float32)
    args = (gs.cand_x, gs.cand_y, yaws, bx, by, coarse, gs.coarse_res, field.origin_x, field.origin_y,
            float(field.lik_outside))

    def ours():
        global_scores(*args, out)

    def numpy_peer():
        for a in range(yaws.size):
            global_scores_ref(gs.cand_x, gs.cand_y, yaws[a:a + 1], *args[3:])

    ours()
    ref = np.vstack([global_scores_ref(gs.cand_x, gs.cand_y, yaws[a:a + 1], *args[3:]) for a in range(yaws.size)])
    assert np.allclose(out, ref, rtol=1e-5), "kernel and NumPy disagree"
    r = _median_rounds({"ours": ours, "numpy": numpy_peer}, 3 if QUICK else 5, 1)
    n = yaws.size * gs.cand_x.size
    print(f"global search, coarse scoring of {gs.cand_x.size} cells x {yaws.size} headings x {bx.size} beams "
          f"({n * bx.size / 1e6:.0f} M lookups)")
    print(f"  numpy {r['numpy'][0] * 1e3:8.1f} ms   ours {r['ours'][0] * 1e3:8.1f} ms   "
          f"ratio {r['numpy'][0] / r['ours'][0]:.1f}x   (CPU: numpy {r['numpy'][2] * 1e3:.1f} ms, "
          f"ours {r['ours'][2] * 1e3:.1f} ms, {r['numpy'][2] / r['ours'][2]:.1f}x)")
    rng = np.random.default_rng(9)
    times, cpu, errs, found = [], [], [], 0
    trials = 4 if QUICK else 12
    for k in range(trials):
        x, y, yaw = path[rng.integers(0, len(path)), 1:4]
        yaw = rng.uniform(-math.pi, math.pi)
        bx, by = scan_endpoints(lidar.scan(0.0, (x, y, yaw), grid.occupied, grid.resolution, (0.0, 0.0)), 60)
        t0, c0 = time.perf_counter(), time.process_time()
        res = gs.search(bx, by)
        times.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
        if res.ok:
            found += 1
            errs.append((math.hypot(res.x - x, res.y - y), abs((res.yaw - yaw + math.pi) % (2 * math.pi) - math.pi)))
    print(f"  whole search ({gs.poses / 1e6:.1f} M poses): median {statistics.median(times):.2f} s "
          f"(CPU {statistics.median(cpu):.2f} s), "
          f"found {found}/{trials}" + (f", worst error {max(e[0] for e in errs):.3f} m "
                                       f"{math.degrees(max(e[1] for e in errs)):.2f} deg" if errs else ""))


def main():
    path = trajectory(300 if QUICK else 1000)
    grid = yard(path)
    field = build_likelihood_field(grid)
    if "--global" not in sys.argv:
        bench_particle_filter(field, grid, path)
        bench_registration(field, grid, path)
    bench_global_search(field, grid, path)


if __name__ == "__main__":
    main()
