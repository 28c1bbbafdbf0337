"""Detection benchmark (issue 5 item 4): false alarms and power of Driftline's drift rule.

On identical seeded data it compares Driftline's defaults (profile_frame -> decide, plus the
multivariate domain classifier in the same BH family), Evidently 0.7's DataDriftPreset
defaults, and per-column p < 0.05 without correction (K-S / chi-square on the raw rows).

    .venv/bin/python bench/detection.py            # the full run for the docs (~30 min, 2 cores)
    .venv/bin/python bench/detection.py --quick    # a smoke run (~1 min)

Replicate r draws its own 50,000-row reference; every window of every scenario and size is
drawn from seeds (seed, r, scenario, size), so any cell can be re-run on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import platform
import sys
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.drift.decision import DecisionInput, decide
from monitor.drift.multivariate import domain_classifier
from monitor.schema.profile import Kind
from tests.oracle.profile_frame import build_specs, profile_frame

REF_ROWS = 50_000
SIZES = (200, 2_000, 20_000, 200_000)
NUMERIC = ("normal", "normal_b", "lognormal", "bimodal", "heavy_tailed", "uniform", "step")
CATEGORICAL = {"cat3": 3, "cat10": 10, "cat50": 50}
FEATURES: list[tuple[str, Kind]] = [(n, "numerical") for n in NUMERIC] + [(c, "categorical") for c in CATEGORICAL]
REF_RHO = 0.5  # correlation of normal and normal_b in the reference


def _cat_probs(levels: int) -> np.ndarray:
    """Skewed (Zipf-like) level shares; 3 levels are 0.6 / 0.3 / 0.1."""
    if levels == 3:
        return np.array([0.6, 0.3, 0.1])
    w = 1.0 / np.arange(1, levels + 1) ** 1.1
    return w / w.sum()


# (mean, std) of each numerical shape, so shifts are in reference standard deviations
_LN_S = 0.75
MOMENTS = {
    "normal": (0.0, 1.0),
    "normal_b": (0.0, 1.0),
    "lognormal": (math.exp(_LN_S**2 / 2), math.sqrt((math.exp(_LN_S**2) - 1) * math.exp(_LN_S**2))),
    "bimodal": (0.0, math.sqrt(1 + 4)),
    "heavy_tailed": (0.0, math.sqrt(3.0)),
    "uniform": (0.5, math.sqrt(1 / 12)),
    "step": (500.0, math.sqrt((1001**2 - 1) / 12)),
}


@dataclass(frozen=True)
class Scenario:
    """One change applied to the windows: what, to which feature, how much."""

    name: str
    change: str  # none | shift | scale | top_share | unseen | correlation
    target: str = ""
    amount: float = 0.0
    power: bool = True  # counted as power (False: a change below the floor, counted as false alarms)


MAIN = [
    Scenario("no change", "none", power=False),
    Scenario("shift 0.05 std (below floor)", "shift", "normal", 0.05, power=False),
    Scenario("shift 0.1 std", "shift", "normal", 0.1),
    Scenario("shift 0.25 std", "shift", "normal", 0.25),
    Scenario("shift 0.5 std", "shift", "normal", 0.5),
    Scenario("scale 1.2", "scale", "normal", 1.2),
    Scenario("top category -10 pts", "top_share", "cat3", 0.10),
    Scenario("unseen category 5%", "unseen", "cat10", 0.05),
    Scenario("correlation 0.5 -> 0", "correlation", "normal_b", 0.0),
]
# the same changes on every shape, Driftline only, at the sizes of the acceptance targets
SWEEP = (
    [(Scenario(f"shift 0.25 std [{f}]", "shift", f, 0.25), 2_000) for f in NUMERIC if f != "normal_b"]
    + [(Scenario(f"scale 1.2 [{f}]", "scale", f, 1.2), 2_000) for f in NUMERIC if f != "normal_b"]
    + [(Scenario(f"shift 0.1 std [{f}]", "shift", f, 0.1), 20_000) for f in NUMERIC if f != "normal_b"]
    + [(Scenario(f"shift 0.05 std [{f}] (below floor)", "shift", f, 0.05, power=False), 200_000)
       for f in NUMERIC if f != "normal_b"]
    + [(Scenario(f"scale 1.02 [{f}] (below floor)", "scale", f, 1.02, power=False), 200_000)
       for f in NUMERIC if f != "normal_b"]
    + [(Scenario("top category -2 pts [cat3] (below floor)", "top_share", "cat3", 0.02, power=False), 200_000)]
    + [(Scenario(f"top category -10 pts [{c}]", "top_share", c, 0.10), 2_000) for c in CATEGORICAL]
    + [(Scenario(f"unseen category 5% [{c}]", "unseen", c, 0.05), 2_000) for c in CATEGORICAL]
)


def draw(rng: np.random.Generator, n: int, sc: Scenario) -> pd.DataFrame:
    """n rows of every feature, with the scenario's change applied."""
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    rho = sc.amount if sc.change == "correlation" else REF_RHO
    cols: dict[str, Any] = {
        "normal": z1,
        "normal_b": rho * z1 + math.sqrt(1 - rho**2) * z2,
        "lognormal": np.exp(_LN_S * rng.standard_normal(n)),
        "bimodal": rng.standard_normal(n) + np.where(rng.random(n) < 0.5, -2.0, 2.0),
        "heavy_tailed": rng.standard_t(3, n),
        "uniform": rng.random(n),
        "step": rng.integers(0, 1001, n).astype(float),
    }
    for f in NUMERIC:
        mean, std = MOMENTS[f]
        if sc.target == f and sc.change == "shift":
            cols[f] = cols[f] + sc.amount * std
        elif sc.target == f and sc.change == "scale":
            cols[f] = mean + sc.amount * (cols[f] - mean)
        if f == "step":  # an integer index stays an integer
            cols[f] = np.round(cols[f])
    for c, levels in CATEGORICAL.items():
        p = _cat_probs(levels)
        names = [f"{c}_{i}" for i in range(levels)]
        if sc.target == c and sc.change == "top_share":
            rest = p[1:] / p[1:].sum()
            p = np.r_[p[0] - sc.amount, p[1:] + sc.amount * rest]
        if sc.target == c and sc.change == "unseen":
            p = np.r_[p * (1 - sc.amount), sc.amount]
            names = names + [f"{c}_new"]
        codes = rng.choice(len(p), size=n, p=p)
        cols[c] = pd.Categorical.from_codes(codes, categories=names)
    return pd.DataFrame(cols)


def driftline(ref: pd.DataFrame, specs: dict, ref_prof, win: pd.DataFrame, seed: int, mv: bool) -> set[str]:
    """Columns Driftline flags in one run (defaults), the multivariate test in the same family."""
    prof = profile_frame(win, specs)
    items: list = [
        DecisionInput(name, kind, specs[name], ref_prof.features[name], prof.features[name])
        for name, kind in FEATURES
    ]
    if mv:
        items.append(domain_classifier(ref, win, [f for f, _ in FEATURES], seed=seed).as_test())
    return {d.name for d in decide(items, seed=seed) if d.drifted}


def evidently(ref_ds: object, win: pd.DataFrame) -> set[str]:
    """Columns Evidently 0.7's DataDriftPreset (defaults) marks as drifted."""
    from evidently import Dataset, Report
    from evidently.presets import DataDriftPreset

    cur = Dataset.from_pandas(win, data_definition=_definition())
    snap = Report([DataDriftPreset()]).run(current_data=cur, reference_data=ref_ds).dict()
    flagged = set()
    for m in snap["metrics"]:
        cfg = m["config"]
        if cfg.get("type", "").endswith("ValueDrift"):
            is_p = "p_value" in cfg["method"].lower() or "test" in cfg["method"].lower()
            hit = m["value"] < cfg["threshold"] if is_p else m["value"] >= cfg["threshold"]
            if hit:
                flagged.add(cfg["column"])
    return flagged


def _definition() -> object:
    from evidently import DataDefinition

    return DataDefinition(numerical_columns=list(NUMERIC), categorical_columns=list(CATEGORICAL))


def pvalues(ref: pd.DataFrame, win: pd.DataFrame) -> set[str]:
    """Columns with p < 0.05 uncorrected: K-S on numerical, chi-square on categorical."""
    from scipy import stats

    out = set()
    for f in NUMERIC:
        if stats.ks_2samp(ref[f].to_numpy(), win[f].to_numpy(), method="asymp").pvalue < 0.05:
            out.add(f)
    for c in CATEGORICAL:
        a, b = ref[c].value_counts(), win[c].value_counts()
        table = pd.concat([a, b], axis=1).fillna(0).to_numpy().T
        table = table[:, table.sum(axis=0) > 0]
        if stats.chi2_contingency(table, correction=False).pvalue < 0.05:
            out.add(c)
    return out


def _cells(sizes: tuple[int, ...]) -> list[tuple[Scenario, int]]:
    return [(sc, n) for sc in MAIN for n in sizes] + [(sc, n) for sc, n in SWEEP if n in sizes]


def replicate(args: tuple[int, dict]) -> list[tuple[str, int, str, bool, bool]]:
    """One replicate: a fresh reference, then every cell this replicate index takes part in."""
    r, cfg = args
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    out = []
    with threadpool_limits(1):
        rng = np.random.default_rng([cfg["seed"], r])
        ref = draw(rng, REF_ROWS, MAIN[0])
        specs = build_specs(ref, FEATURES)
        ref_prof = profile_frame(ref, specs)
        ref_ds = None
        for ci, (sc, n) in enumerate(_cells(tuple(cfg["sizes"]))):
            main = sc in MAIN
            reps = cfg["null_reps"] if not sc.power else cfg["power_reps"] if main else cfg["sweep_reps"]
            if r >= reps:
                continue
            win = draw(np.random.default_rng([cfg["seed"], r, ci, n]), n, sc)
            seed = cfg["seed"] * 1_000_003 + r
            mv = sc.change in ("none", "correlation") and r < cfg["mv_reps"]
            target = "multivariate" if sc.change == "correlation" else sc.target
            got = driftline(ref, specs, ref_prof, win, seed, mv)
            out.append(("driftline", n, sc.name, bool(got), target in got))
            if main and r < cfg["ev_reps"]:
                if ref_ds is None:
                    from evidently import Dataset

                    ref_ds = Dataset.from_pandas(ref, data_definition=_definition())
                got = evidently(ref_ds, win)
                out.append(("evidently", n, sc.name, bool(got), bool(got & {sc.target, "normal"})
                            if sc.change == "correlation" else sc.target in got))
            if main and r < cfg["power_reps"]:
                got = pvalues(ref, win)
                out.append(("p<0.05", n, sc.name, bool(got), bool(got & {sc.target, "normal"})
                            if sc.change == "correlation" else sc.target in got))
    return out


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson 95% interval of a proportion k/n."""
    if n == 0:
        return (math.nan, math.nan)
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def summarise(rows: list[tuple[str, int, str, bool, bool]]) -> list[dict]:
    """Per method, size and scenario: replicates, any-alarm rate and target rate, with intervals."""
    acc: dict[tuple[str, int, str], list[int]] = {}
    for method, n, name, any_alarm, target in rows:
        a = acc.setdefault((method, n, name), [0, 0, 0])
        a[0] += 1
        a[1] += any_alarm
        a[2] += target
    out = []
    for (method, n, name), (reps, anyk, tk) in sorted(acc.items()):
        out.append({
            "method": method, "rows": n, "scenario": name, "replicates": reps,
            "any_alarm": anyk / reps, "any_alarm_ci": wilson(anyk, reps),
            "target": tk / reps, "target_ci": wilson(tk, reps),
        })
    return out


def table(results: list[dict]) -> str:
    """The results as a markdown table (rate [95% Wilson interval], replicates)."""
    lines = ["| scenario | rows | method | reps | any alarm | changed feature flagged |", "|---|---:|---|---:|---|---|"]
    order = {sc.name: i for i, (sc, _) in enumerate([(s, 0) for s in MAIN] + list(SWEEP))}
    for r in sorted(results, key=lambda x: (order.get(x["scenario"], 99), x["rows"], x["method"])):
        lo, hi = r["any_alarm_ci"]
        tlo, thi = r["target_ci"]
        target = "" if r["scenario"] == "no change" else f"{100*r['target']:.1f}% [{100*tlo:.1f}, {100*thi:.1f}]"
        lines.append(f"| {r['scenario']} | {r['rows']:,} | {r['method']} | {r['replicates']} | "
                     f"{100*r['any_alarm']:.1f}% [{100*lo:.1f}, {100*hi:.1f}] | {target} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few replicates")
    parser.add_argument("--replicates", type=int, default=500, help="no-change and below-floor replicates")
    parser.add_argument("--power-replicates", type=int, default=200)
    parser.add_argument("--sweep-replicates", type=int, default=100)
    parser.add_argument("--mv-replicates", type=int, default=500, help="runs that include the domain classifier")
    parser.add_argument("--evidently-replicates", type=int, default=30)
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261126)
    parser.add_argument("--out", type=Path, default=Path("bench/detection-results.json"))
    a = parser.parse_args(argv)
    if a.quick:
        a.replicates, a.power_replicates, a.sweep_replicates, a.mv_replicates, a.evidently_replicates = 6, 4, 3, 3, 2
    cfg = {"seed": a.seed, "sizes": a.sizes, "null_reps": a.replicates, "power_reps": a.power_replicates,
           "sweep_reps": a.sweep_replicates, "mv_reps": a.mv_replicates, "ev_reps": a.evidently_replicates}
    total = max(a.replicates, a.power_replicates, a.sweep_replicates, a.evidently_replicates)
    start = time.perf_counter()
    rows: list = []
    with mp.get_context("spawn").Pool(a.workers) as pool:
        for i, part in enumerate(pool.imap_unordered(replicate, [(r, cfg) for r in range(total)])):
            rows.extend(part)
            if (i + 1) % max(1, total // 20) == 0:
                print(f"  {i + 1}/{total} replicates, {time.perf_counter() - start:.0f} s", file=sys.stderr)
    results = summarise(rows)
    elapsed = time.perf_counter() - start
    machine = f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, Python {platform.python_version()}"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"config": cfg, "seconds": elapsed, "machine": machine, "results": results}, indent=1))
    print(table(results))
    print(f"\n{elapsed:.0f} s on {machine}; results in {a.out}")


if __name__ == "__main__":
    main()
