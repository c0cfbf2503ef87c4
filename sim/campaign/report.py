"""Campaign statistics and the report: pass rates with Wilson intervals,
which varied parameters the failures depend on, margin histograms, failure
rate against each parameter, the worst runs with their replay commands;
PNG plots and one self-contained HTML page (the PNGs embedded as base64).
"""
from __future__ import annotations

import base64
import html
import json
import math
from pathlib import Path

import numpy as np

Z95 = 1.959963984540054


def wilson(k: int, n: int, z: float = Z95) -> tuple[float, float]:
    """Wilson score interval for ``k`` successes in ``n`` trials."""
    if n == 0:
        return 0.0, 1.0
    p = k / n
    den = 1 + z * z / n
    c = (p + z * z / (2 * n)) / den
    h = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (0.0 if k == 0 else max(0.0, c - h)), (1.0 if k == n else min(1.0, c + h))


def rate_stats(rows: list[dict]) -> dict:
    n = len(rows)
    k = sum(1 for r in rows if r.get("passed"))
    return {"n": n, "passed": k, "failed": n - k, "rate": k / n if n else 0.0, "ci": list(wilson(k, n))}


def mann_whitney(x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """(rank-biserial effect r in [-1, 1], two-sided p, normal approximation
    with tie correction): r > 0 when ``x`` (failed runs) tends higher."""
    n1, n2 = len(x), len(y)
    if n1 == 0 or n2 == 0:
        return 0.0, 1.0
    allv = np.concatenate([x, y])
    order = np.argsort(allv, kind="mergesort")
    ranks = np.empty(len(allv))
    sv = allv[order]
    i = 0
    while i < len(sv):          # average ranks over ties
        j = i
        while j + 1 < len(sv) and sv[j + 1] == sv[i]:
            j += 1
        ranks[order[i:j + 1]] = 0.5 * (i + j) + 1
        i = j + 1
    u1 = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    r = 2 * u1 / (n1 * n2) - 1
    _, counts = np.unique(allv, return_counts=True)
    n = n1 + n2
    tie = (counts ** 3 - counts).sum() / (n * (n - 1)) if n > 1 else 0.0
    var = n1 * n2 / 12.0 * ((n + 1) - tie)
    if var <= 0:
        return float(r), 1.0
    zst = (u1 - n1 * n2 / 2) / math.sqrt(var)
    return float(r), float(math.erfc(abs(zst) / math.sqrt(2)))


def _numeric(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)


def dependence(rows: list[dict]) -> list[dict]:
    """For each varied parameter: how the failure rate changes with it.
    Numeric: rank-biserial effect and Mann-Whitney p between failed and
    passed runs, failure rate in the lowest and highest quintile.
    Categorical (and booleans): failure rate per value with its interval."""
    # the scenario seed only names a random stream: nothing to depend on
    params = sorted({k for r in rows for k in r.get("params", {})} - {"seed"})
    out = []
    for p in params:
        have = [r for r in rows if p in r.get("params", {})]
        vals = [r["params"][p] for r in have]
        failed = np.array([not r.get("passed") for r in have])
        if len(have) < 2:
            continue
        if all(_numeric(v) for v in vals) and len(set(vals)) > 2:
            x = np.array(vals, dtype=float)
            eff, pv = mann_whitney(x[failed], x[~failed])
            qs = np.quantile(x, [0.2, 0.8])
            lo, hi = failed[x <= qs[0]], failed[x >= qs[1]]
            d = {"param": p, "kind": "numeric", "n": len(have), "effect": round(eff, 3), "p": pv,
                 "fail_low": float(lo.mean()) if len(lo) else None, "fail_high": float(hi.mean()) if len(hi) else None,
                 "min": float(x.min()), "max": float(x.max())}
            if pv < 0.05 and failed.any() and (~failed).any():
                d["note"] = (f"failures at {'higher' if eff > 0 else 'lower'} values (effect {eff:+.2f}, p={pv:.3g}; "
                             f"failure rate {100 * (d['fail_low'] or 0):.0f}% in the lowest fifth vs "
                             f"{100 * (d['fail_high'] or 0):.0f}% in the highest)")
        else:
            groups: dict = {}
            for v, f in zip(vals, failed):
                groups.setdefault(json.dumps(v), []).append(bool(f))
            per = {g: {"n": len(fs), "fail": sum(fs), "rate": sum(fs) / len(fs),
                       "ci": list(wilson(sum(fs), len(fs)))} for g, fs in sorted(groups.items())}
            rates = [g["rate"] for g in per.values()]
            spread = max(rates) - min(rates) if rates else 0.0
            d = {"param": p, "kind": "categorical", "n": len(have), "groups": per, "effect": round(spread, 3),
                 "p": _chi2_p(per)}
            if len(per) > 1 and d["p"] < 0.05:
                worst = max(per.items(), key=lambda kv: kv[1]["rate"])
                d["note"] = (f"failure rate {100 * worst[1]['rate']:.0f}% with {worst[0]} "
                             f"(spread {100 * spread:.0f} points, p={d['p']:.3g})")
        out.append(d)
    out.sort(key=lambda d: (d["p"], -abs(d["effect"])))
    return out


def _chi2_p(per: dict) -> float:
    """p of a chi-square test of failure independence over the groups
    (Wilson-Hilferty approximation of the chi-square tail)."""
    n = sum(g["n"] for g in per.values())
    f = sum(g["fail"] for g in per.values())
    if len(per) < 2 or f == 0 or f == n:
        return 1.0
    p = f / n
    chi = sum((g["fail"] - g["n"] * p) ** 2 / (g["n"] * p) + ((g["n"] - g["fail"]) - g["n"] * (1 - p)) ** 2
              / (g["n"] * (1 - p)) for g in per.values())
    k = len(per) - 1
    zz = ((chi / k) ** (1 / 3) - (1 - 2 / (9 * k))) / math.sqrt(2 / (9 * k))
    return float(0.5 * math.erfc(zz / math.sqrt(2)))


def worst_runs(rows: list[dict], n: int = 10) -> list[dict]:
    """Failed runs first, then the smallest clearance (or CPA) margin."""
    def key(r):
        m = [v for v in (r.get("clearance_margin_m"), r.get("cpa_margin_m")) if v is not None]
        return (bool(r.get("passed")), min(m) if m else 0.0, r["run"])
    return sorted(rows, key=key)[:n]


# ------------------------------------------------------------------ plots
def _plots(rows: list[dict], dep: list[dict], plot_dir: Path) -> list[tuple[str, Path]]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    plot_dir.mkdir(parents=True, exist_ok=True)
    made = []
    ok = [r for r in rows if r.get("passed")]
    bad = [r for r in rows if not r.get("passed")]
    for field, label in (("clearance_margin_m", "clearance margin [m] (min clearance - required)"),
                         ("cpa_margin_m", "CPA margin [m] (closest approach - safe distance)"),
                         ("max_position_error_m", "max position error [m] (estimate vs truth)"),
                         ("sim_time_s", "mission time [s] (simulated)")):
        a = [r[field] for r in ok if r.get(field) is not None]
        b = [r[field] for r in bad if r.get(field) is not None]
        if not a and not b:
            continue
        fig, ax = plt.subplots(figsize=(6.4, 3.6), dpi=100)
        bins = np.histogram_bin_edges(np.array(a + b, dtype=float), bins=min(30, max(5, len(a + b) // 3)))
        ax.hist([a, b], bins=bins, stacked=True, color=["tab:green", "tab:red"],
                label=[f"passed ({len(a)})", f"failed ({len(b)})"])
        if field.endswith("margin_m"):
            ax.axvline(0.0, color="black", lw=1, ls="--")
        ax.set_xlabel(label)
        ax.set_ylabel("runs")
        ax.legend(fontsize=8)
        fig.tight_layout()
        png = plot_dir / f"hist_{field}.png"
        fig.savefig(png)
        plt.close(fig)
        made.append((f"Histogram: {label}", png))
    for d in dep:
        have = [r for r in rows if d["param"] in r.get("params", {})]
        fig, ax = plt.subplots(figsize=(6.4, 3.4), dpi=100)
        if d["kind"] == "numeric":
            x = np.array([r["params"][d["param"]] for r in have], dtype=float)
            f = np.array([not r.get("passed") for r in have])
            nb = int(min(8, max(2, len(x) // 8)))
            edges = np.unique(np.quantile(x, np.linspace(0, 1, nb + 1)))
            if len(edges) < 2:
                plt.close(fig)
                continue
            idx = np.clip(np.searchsorted(edges, x, side="right") - 1, 0, len(edges) - 2)
            mids, rate, lo, hi = [], [], [], []
            for b in range(len(edges) - 1):
                m = idx == b
                if not m.any():
                    continue
                k, n = int(f[m].sum()), int(m.sum())
                w = wilson(k, n)
                mids.append(0.5 * (edges[b] + edges[b + 1]))
                rate.append(k / n)
                lo.append(max(0.0, k / n - w[0]))
                hi.append(max(0.0, w[1] - k / n))
            ax.errorbar(mids, rate, yerr=[lo, hi], fmt="o-", color="tab:red", capsize=3)
            ax.set_xlabel(d["param"])
        else:
            names = list(d["groups"])
            rate = [d["groups"][g]["rate"] for g in names]
            err = [[max(0.0, g["rate"] - g["ci"][0]) for g in d["groups"].values()],
                   [max(0.0, g["ci"][1] - g["rate"]) for g in d["groups"].values()]]
            ax.bar(range(len(names)), rate, yerr=err, color="tab:red", alpha=0.7, capsize=3)
            ax.set_xticks(range(len(names)), [n.strip('"') for n in names], fontsize=8)
            ax.set_xlabel(d["param"])
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("failure rate (95% CI)")
        ax.set_title(f"failure rate vs {d['param']}", fontsize=10)
        fig.tight_layout()
        safe = "".join(c if c.isalnum() or c in "._-" else "_" for c in d["param"])
        png = plot_dir / f"failrate_{safe}.png"
        fig.savefig(png)
        plt.close(fig)
        made.append((f"Failure rate vs {d['param']}", png))
    return made


# ------------------------------------------------------------------ report
def summarize(camp, rows: dict[int, dict]) -> dict:
    lst = [rows[i] for i in sorted(rows)]
    per = {}
    for name in dict.fromkeys(camp.scenario_names):
        per[name] = rate_stats([r for r in lst if r.get("scenario") == name])
    criteria: dict = {}
    for r in lst:
        for c, ok in r.get("criteria", {}).items():
            e = criteria.setdefault(c, {"n": 0, "failed": 0})
            e["n"] += 1
            e["failed"] += int(not ok)
    dep = dependence(lst)
    times = [r["wall_time_s"] for r in lst if r.get("wall_time_s")]
    return {"campaign": camp.name, "campaign_seed": camp.spec.campaign.seed, "fingerprint": camp.fingerprint,
            "overall": rate_stats(lst), "per_scenario": per, "criteria": criteria, "dependence": dep,
            "worst": [{k: r.get(k) for k in ("run", "scenario", "seed", "passed", "reasons", "min_clearance_m",
                                             "clearance_margin_m", "min_cpa_m", "cpa_margin_m", "command", "params")}
                      for r in worst_runs(lst)],
            "errors": sum(1 for r in lst if r.get("error")),
            "mean_run_wall_s": float(np.mean(times)) if times else None}


def write_campaign_report(camp, rows: dict[int, dict], out_dir: str | Path) -> dict:
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    s = summarize(camp, rows)
    lst = [rows[i] for i in sorted(rows)]
    plots = _plots(lst, s["dependence"], out / "plots") if lst else []
    (out / "summary.json").write_text(json.dumps(s, indent=2, sort_keys=True, default=str) + "\n")
    (out / "report.html").write_text(_html(camp, s, plots))
    return s


def _pct(x) -> str:
    return "-" if x is None else f"{100 * x:.1f}%"


def _html(camp, s: dict, plots) -> str:
    e = html.escape
    o = s["overall"]
    rows_sc = "".join(f"<tr><td>{e(n)}</td><td>{p['passed']}/{p['n']}</td><td>{_pct(p['rate'])}</td>"
                      f"<td>{_pct(p['ci'][0])} - {_pct(p['ci'][1])}</td></tr>" for n, p in s["per_scenario"].items())
    rows_cr = "".join(f"<tr><td>{e(c)}</td><td>{v['failed']}/{v['n']}</td></tr>" for c, v in s["criteria"].items())
    dep_rows = []
    for d in s["dependence"]:
        if d["kind"] == "numeric":
            detail = (f"range {d['min']:g}..{d['max']:g}; failure rate lowest fifth {_pct(d['fail_low'])}, "
                      f"highest fifth {_pct(d['fail_high'])}")
        else:
            detail = "; ".join(f"{e(g.strip(chr(34)))}: {v['fail']}/{v['n']} failed" for g, v in d["groups"].items())
        dep_rows.append(f"<tr{' class=sig' if d['p'] < 0.05 else ''}><td>{e(d['param'])}</td><td>{d['kind']}</td>"
                        f"<td>{d['effect']:+.2f}</td><td>{d['p']:.3g}</td><td>{detail}</td></tr>")
    worst = "".join(
        f"<tr><td>{w['run']}</td><td>{e(str(w['scenario']))}</td><td>{'PASS' if w['passed'] else 'FAIL'}</td>"
        f"<td>{'' if w['clearance_margin_m'] is None else w['clearance_margin_m']}</td>"
        f"<td>{e('; '.join(w['reasons'] or []))}</td><td><code>{e(w['command'])}</code></td></tr>"
        for w in s["worst"])
    imgs = "".join(f"<figure><img alt='{e(t)}' src='data:image/png;base64,"
                   f"{base64.b64encode(p.read_bytes()).decode()}'><figcaption>{e(t)}</figcaption></figure>"
                   for t, p in plots)
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Campaign {e(camp.name)}</title>
<style>
body {{ font-family: sans-serif; margin: 2em; max-width: 1200px; }}
table {{ border-collapse: collapse; margin: 1em 0; }} td, th {{ border: 1px solid #ccc; padding: 4px 8px; text-align: left; }}
tr.sig td {{ background: #fff0f0; }} code {{ font-size: 85%; word-break: break-all; }}
figure {{ display: inline-block; margin: 0.5em; }} img {{ max-width: 560px; }}
</style></head><body>
<h1>Campaign {e(camp.name)}</h1>
<p>{e(camp.spec.campaign.description)}</p>
<p>Campaign seed {s['campaign_seed']}, fingerprint {s['fingerprint']}.
<b>{o['passed']}/{o['n']} runs passed: {_pct(o['rate'])}</b> (95% Wilson interval {_pct(o['ci'][0])} - {_pct(o['ci'][1])}).
{s['errors']} run(s) could not run.</p>
<h2>Per scenario</h2>
<table><tr><th>scenario</th><th>passed</th><th>pass rate</th><th>95% CI</th></tr>{rows_sc}</table>
<h2>Failures per criterion</h2>
<table><tr><th>criterion</th><th>failed / judged</th></tr>{rows_cr}</table>
<h2>What the failures depend on</h2>
<p>Numeric parameters: rank-biserial effect (+ = failures at higher values) and Mann-Whitney p between failed and
passed runs. Categorical: spread of the failure rate between values and a chi-square p. Highlighted: p &lt; 0.05.</p>
<table><tr><th>parameter</th><th>kind</th><th>effect</th><th>p</th><th>detail</th></tr>{''.join(dep_rows)}</table>
<h2>Worst runs</h2>
<p>Each command replays its run bit for bit.</p>
<table><tr><th>run</th><th>scenario</th><th>result</th><th>clearance margin [m]</th><th>reasons</th><th>replay</th></tr>{worst}</table>
<h2>Plots</h2>
{imgs}
</body></html>
"""
