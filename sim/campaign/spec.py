"""Campaign specs: which scenarios to run, how often, and what to vary.

A spec is a TOML file::

    [campaign]
    name = "yard_patrol"
    seed = 2026            # the campaign seed: every run's parameters derive from it
    digits = 3             # decimals kept of sampled floats (short, exact replay commands)

    [[scenarios]]
    scenario = "ugv_yard"  # a shipped scenario name or a TOML path (relative to the spec)
    runs = 200

    [scenarios.vary]       # dotted override keys (see sim.overrides) -> a distribution
    seed = { integers = [0, 999999] }
    "start.x" = { range = [2.5, 6.0] }
    "vehicle.sensors.gps.noise_m" = { scale = [0.5, 4.0] }
    "traffic[0].behaviour" = { choice = ["route", "colregs"] }

    [[scenarios.add]]      # items appended to a list of the scenario (faults, traffic, obstacles)
    to = "faults"
    name = "gps_dropout"   # the prefix of its sampled parameters in the results
    probability = 0.5      # present in this fraction of runs (or count = N / a distribution)
    item = { type = "gps_dropout", start_s = { range = [10, 60] }, duration_s = { range = [1, 4] },
             expect = { action = "HOLD", trigger = "gps", resume = true } }

Distributions: ``{ range = [lo, hi] }`` uniform float, ``{ integers = [lo,
hi] }`` uniform integer (both ends included), ``{ choice = [a, b, ...] }``,
``{ normal = [mean, std], clip = [lo, hi] }``, ``{ scale = [lo, hi] }`` (the
scenario's own value times a uniform factor); each may carry ``digits``.  A
plain value is a constant override.

Sampling is deterministic: run ``i`` draws from
``numpy.random.default_rng([campaign seed, i])``, first its scenario seed
(from ``vary.seed`` or uniformly), then ``vary`` in file order, then ``add``
in file order; so run ``i`` has the same parameters whatever machine, worker
or backend runs it, and a prefix of the plan (``--runs N``) is the same runs
a full campaign starts with.
"""
from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field, ValidationError

from edgepilot.sim.overrides import (APPEND, Override, apply_overrides, command_args, format_key, parse_key,
                                     plain, shell_join)
from edgepilot.vehicle.config import ConfigError, Strict, format_validation_error, read_toml

DIST_KEYS = ("range", "integers", "choice", "normal", "scale")
DIST_EXTRA = ("digits", "clip")
SEED_MAX = 2**31 - 1


class CampaignHead(Strict):
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    description: str = ""
    seed: int = Field(default=0, ge=0)
    digits: int = Field(default=3, ge=0, le=17)


class AddItems(Strict):
    to: Literal["faults", "traffic", "world.obstacles", "fence"]
    name: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_-]+$")
    probability: float | None = Field(default=None, ge=0, le=1)
    count: Any = None
    item: dict[str, Any]


class ScenarioRuns(Strict):
    scenario: str
    runs: int = Field(gt=0)
    vary: dict[str, Any] = {}
    add: list[AddItems] = []


class CampaignSpecModel(Strict):
    campaign: CampaignHead
    scenarios: list[ScenarioRuns] = Field(min_length=1)


# ------------------------------------------------------------------ distributions
def is_dist(v) -> bool:
    return isinstance(v, dict) and any(k in v for k in DIST_KEYS)


def _num(x) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def check_dist(d: dict, where: str) -> None:
    """Refuse a malformed distribution, naming ``where`` (the spec key)."""
    kinds = [k for k in DIST_KEYS if k in d]
    if len(kinds) != 1:
        raise ConfigError(f"{where}: a distribution has exactly one of {', '.join(DIST_KEYS)}, got {sorted(d)}")
    kind = kinds[0]
    extra = set(d) - {kind, *DIST_EXTRA}
    if extra:
        raise ConfigError(f"{where}: unknown key(s) {sorted(extra)} in a {kind} distribution")
    v = d[kind]
    if "digits" in d and not (isinstance(d["digits"], int) and 0 <= d["digits"] <= 17):
        raise ConfigError(f"{where}.digits: expected an integer 0..17, got {d['digits']!r}")
    if kind == "choice":
        if not isinstance(v, list) or not v:
            raise ConfigError(f"{where}: empty choice: expected a non-empty list of values, got {v!r}")
        return
    if not (isinstance(v, list) and len(v) == 2 and all(_num(x) for x in v)):
        raise ConfigError(f"{where}: expected {kind} = [a, b] with two finite numbers, got {v!r}")
    lo, hi = v
    if kind == "integers":
        if not all(isinstance(x, int) for x in v):
            raise ConfigError(f"{where}: integers needs two integers, got {v!r}")
        if hi < lo:
            raise ConfigError(f"{where}: empty range: integers = [{lo}, {hi}] needs low <= high")
    elif kind == "normal":
        if hi <= 0:
            raise ConfigError(f"{where}: normal = [mean, std] needs std > 0, got {v!r}")
    elif not hi > lo:
        raise ConfigError(f"{where}: empty range: {kind} = [{lo}, {hi}] needs low < high")
    if "clip" in d:
        c = d["clip"]
        if not (isinstance(c, list) and len(c) == 2 and all(_num(x) for x in c) and c[1] > c[0]):
            raise ConfigError(f"{where}.clip: expected [low, high] with low < high, got {c!r}")
        if kind != "normal":
            raise ConfigError(f"{where}.clip: only a normal distribution takes clip")


def sample_dist(d: dict, rng: np.random.Generator, digits: int, base=None):
    digits = d.get("digits", digits)
    if "choice" in d:
        return d["choice"][int(rng.integers(0, len(d["choice"])))]
    if "integers" in d:
        lo, hi = d["integers"]
        return int(rng.integers(lo, hi + 1))
    if "range" in d:
        lo, hi = d["range"]
        return round(float(rng.uniform(lo, hi)), digits)
    if "normal" in d:
        m, s = d["normal"]
        v = float(rng.normal(m, s))
        if "clip" in d:
            v = min(max(v, d["clip"][0]), d["clip"][1])
        return round(v, digits)
    lo, hi = d["scale"]
    f = float(rng.uniform(lo, hi))
    return round(float(base) * f, digits + _extra_digits(base))


def _extra_digits(base) -> int:
    """Scaled small values (noise of 0.005 m) keep their significant digits."""
    b = abs(float(base))
    return max(0, -int(math.floor(math.log10(b)))) if 0 < b < 1 else 0


def sample_template(t, rng, digits, params: dict, prefix: str):
    """A template with distributions anywhere inside, sampled in order;
    each sampled leaf recorded in ``params`` under ``prefix`` + its path."""
    if is_dist(t):
        v = sample_dist(t, rng, digits, base=1.0)
        params[prefix] = v
        return v
    if isinstance(t, dict):
        return {k: sample_template(v, rng, digits, params, f"{prefix}.{k}") for k, v in t.items()}
    if isinstance(t, list):
        return [sample_template(v, rng, digits, params, f"{prefix}[{i}]") for i, v in enumerate(t)]
    return t


def check_template(t, where: str) -> None:
    if is_dist(t):
        if "scale" in t:
            raise ConfigError(f"{where}: scale needs a value of the scenario to scale; use range in an added item")
        check_dist(t, where)
    elif isinstance(t, dict):
        for k, v in t.items():
            check_template(v, f"{where}.{k}")
    elif isinstance(t, list):
        for i, v in enumerate(t):
            check_template(v, f"{where}[{i}]")


# ------------------------------------------------------------------ the plan
@dataclass(frozen=True)
class RunPlan:
    """Everything a worker needs for one run, and its replay command."""

    run: int
    scenario: str                # shipped name or absolute path
    seed: int
    overrides: tuple[Override, ...]
    params: dict = field(default_factory=dict, hash=False, compare=False)

    def command(self) -> str:
        return shell_join(["edgepilot", "sitl", "run", self.scenario, "--seed", str(self.seed)]
                          + command_args(self.overrides))

    def overrides_json(self) -> list:
        return [[o.key, o.value] for o in self.overrides]


@dataclass
class Campaign:
    spec: CampaignSpecModel
    source: Path
    scenario_refs: list[str]             # resolved per [[scenarios]] entry
    scenario_names: list[str]
    base: list[dict]                     # per entry: plain scenario data (defaults filled in)
    base_vehicle: list[dict]
    fingerprint: str = ""

    @property
    def name(self) -> str:
        return self.spec.campaign.name

    @property
    def total_runs(self) -> int:
        return sum(s.runs for s in self.spec.scenarios)

    def entry_of(self, run: int) -> int:
        acc = 0
        for k, s in enumerate(self.spec.scenarios):
            acc += s.runs
            if run < acc:
                return k
        raise IndexError(run)

    def plan(self, run: int) -> RunPlan:
        """The parameters of run ``run`` (0-based over all scenario entries)."""
        k = self.entry_of(run)
        entry = self.spec.scenarios[k]
        digits = self.spec.campaign.digits
        rng = np.random.default_rng([self.spec.campaign.seed, run])
        params: dict = {}
        sd = entry.vary.get("seed")
        seed = int(sample_dist(sd, rng, digits) if is_dist(sd) else
                   sd if sd is not None else rng.integers(0, SEED_MAX))
        params["seed"] = seed
        overrides: list[Override] = []
        for key, d in entry.vary.items():
            if key == "seed":
                continue
            if is_dist(d):
                base = _base_value(self.base[k], self.base_vehicle[k], key) if "scale" in d else None
                v = sample_dist(d, rng, digits, base)
                params[key] = v
            else:
                v = d
            overrides.append(Override(key, v))
        for a in entry.add:
            if a.probability is not None:
                n = int(rng.random() < a.probability)
                params[f"{a.name}.injected"] = bool(n)
            elif is_dist(a.count):
                n = int(sample_dist(a.count, rng, digits))
                params[f"{a.name}.count"] = n
            else:
                n = 1 if a.count is None else int(a.count)
            for j in range(n):
                single = a.probability is not None or a.count is None or a.count == 1
                prefix = a.name if single else f"{a.name}[{j}]"
                item = sample_template(a.item, rng, digits, params, prefix)
                if a.to == "traffic":
                    item = _distinct_vessel(item, j, n)
                overrides.append(Override(format_key(parse_key(a.to) + (APPEND,)), item))
        return RunPlan(run, self.scenario_refs[k], seed, tuple(overrides), params)

    def plans(self, runs=None) -> list[RunPlan]:
        n = self.total_runs if runs is None else min(runs, self.total_runs)
        return [self.plan(i) for i in range(n)]


def _distinct_vessel(item: dict, j: int, n: int) -> dict:
    """Several vessels from one template get their own name and MMSI."""
    if n <= 1 or not isinstance(item, dict):
        return item
    item = dict(item)
    if isinstance(item.get("name"), str):
        item["name"] = f"{item['name']}{j + 1}"
    if isinstance(item.get("mmsi"), int):
        item["mmsi"] = item["mmsi"] + j
    return item


def _base_value(scen: dict, veh: dict, key: str):
    path = parse_key(key)
    node = veh if path[0] == "vehicle" and len(path) > 1 else scen
    for p in (path[1:] if node is veh else path):
        node = node[p]
    return node


def _lookup(data: dict, path) -> Any:
    node = data
    for p in path:
        node = node[p]
    return node


def load_campaign(path: str | Path) -> Campaign:
    """Read and validate a spec: every scenario loads, every varied key
    exists in its scenario and every distribution is well formed; the
    first runs of each scenario and each range's ends are validated as the
    scenario files they become.  ConfigError names the spec key."""
    from edgepilot.sim.scenario import load_scenario, scenario_path

    path = Path(path)
    data = read_toml(path)
    try:
        spec = CampaignSpecModel.model_validate(data)
    except ValidationError as e:
        raise ConfigError(format_validation_error(path, e)) from None
    refs, names, bases, vbases, digests = [], [], [], [], []
    for k, entry in enumerate(spec.scenarios):
        where = f"{path}: scenarios[{k}]"
        ref = entry.scenario
        cand = Path(ref)
        if cand.suffix == ".toml" and not cand.is_absolute():
            cand = (path.parent / cand).resolve()
            ref = str(cand)
        try:
            sp = scenario_path(ref)
            sc = load_scenario(sp)
        except ConfigError as e:
            raise ConfigError(f"{where}.scenario: {e}") from None
        refs.append(ref)
        names.append(sc.name)
        bases.append(plain(sc.model_dump(exclude={"source", "vehicle_config"})))
        vbases.append(plain(sc.vehicle_config.model_dump()))
        digests.append(hashlib.sha256(Path(sc.source).read_bytes()).hexdigest()[:16])
        for key, d in entry.vary.items():
            kw = f"{where}.vary.{json.dumps(key) if '.' in key or '[' in key else key}"
            try:
                p = parse_key(key)
            except ConfigError as e:
                raise ConfigError(f"{kw}: {e}") from None
            if APPEND in p:
                raise ConfigError(f"{kw}: to add items use [[scenarios.add]], not [+] in vary")
            if is_dist(d):
                check_dist(d, kw)
            elif isinstance(d, dict):
                raise ConfigError(f"{kw}: expected a distribution table with one of {', '.join(DIST_KEYS)} "
                                  f"or a constant value, got {d!r}")
            if key == "seed":
                if is_dist(d) and not ("integers" in d or ("choice" in d and all(isinstance(x, int) and not isinstance(x, bool) for x in d["choice"]))):
                    raise ConfigError(f"{kw}: the seed is an integer: use integers = [lo, hi] or a choice of integers")
                if is_dist(d) and "integers" in d and not (0 <= d["integers"][0] and d["integers"][1] <= SEED_MAX):
                    raise ConfigError(f"{kw}: seeds must lie in 0..{SEED_MAX}")
                continue
            # the key must exist in this scenario (or its vehicle)
            probe = d
            if is_dist(d):
                if "scale" in d:
                    try:
                        base = _base_value(bases[-1], vbases[-1], key)
                    except (KeyError, IndexError, TypeError):
                        base = 0.0          # let the scenario say what is wrong with the key
                    else:
                        if not _num(base):
                            raise ConfigError(f"{kw}: scale needs a number to scale, but {key} is {base!r} "
                                              f"in this scenario")
                    probe = base
                else:
                    probe = _dist_probe(d)
            for val in _probes(d) if is_dist(d) and "scale" not in d else [probe]:
                try:
                    load_scenario(sp, [Override(key, val)])
                except ConfigError as e:
                    raise ConfigError(f"{kw}: {_strip_source(e)}") from None
        for j, a in enumerate(entry.add):
            kw = f"{where}.add[{j}]"
            if a.probability is not None and a.count is not None:
                raise ConfigError(f"{kw}: give probability or count, not both")
            if a.count is not None:
                if is_dist(a.count):
                    check_dist(a.count, f"{kw}.count")
                    if "integers" not in a.count:
                        raise ConfigError(f"{kw}.count: a count is an integer: use integers = [lo, hi]")
                    if a.count["integers"][0] < 0:
                        raise ConfigError(f"{kw}.count: a count cannot be negative")
                elif not (isinstance(a.count, int) and not isinstance(a.count, bool) and a.count >= 0):
                    raise ConfigError(f"{kw}.count: expected an integer >= 0 or integers = [lo, hi], got {a.count!r}")
            check_template(a.item, f"{kw}.item")
    camp = Campaign(spec, path, refs, names, bases, vbases)
    # The first runs of every scenario, validated as they will run.
    start = 0
    for k, entry in enumerate(spec.scenarios):
        for i in range(start, start + min(entry.runs, 8)):
            pl = camp.plan(i)
            try:
                load_scenario(pl.scenario, pl.overrides)
            except ConfigError as e:
                raise ConfigError(f"{path}: scenarios[{k}] (run {i}): {_strip_source(e)}") from None
        start += entry.runs
    canon = json.dumps({"spec": spec.model_dump(), "scenarios": digests}, sort_keys=True, default=str)
    camp.fingerprint = hashlib.sha256(canon.encode()).hexdigest()[:16]
    return camp


def _dist_probe(d: dict):
    return _probes(d)[0]


def _probes(d: dict) -> list:
    """Values at the ends of a distribution's support (validated up front)."""
    if "choice" in d:
        return list(d["choice"])
    if "integers" in d:
        return list(d["integers"])
    if "range" in d:
        return [float(x) for x in d["range"]]
    if "normal" in d:
        m = float(d["normal"][0])
        return [float(x) for x in d["clip"]] if "clip" in d else [m]
    return []


def _strip_source(e: Exception) -> str:
    """A scenario error without the absolute path prefix (the spec key leads)."""
    return "\n".join(line.split(": ", 1)[1] if line.startswith("/") and ": " in line else line
                     for line in str(e).splitlines())
