"""Detection benchmark (issues 5 and 17): false alarms and power of Driftline's drift rule.

On identical seeded data (bench/detection_data.py) it compares Driftline's defaults (profile_frame ->
decide, plus the multivariate domain classifier in the same BH family) at several run-level budgets,
the rule before issue 17 ("driftline before": distance and spread only), Evidently 0.7's
DataDriftPreset defaults, per-column p < 0.05 without correction (K-S / chi-square on the raw rows),
and NannyML's univariate defaults (bench/detection_nannyml.py, in its own virtual environment, merged
with --nannyml-rows).

    nice -n 10 .venv/bin/python bench/detection.py      # the full run for the docs
    .venv/bin/python bench/detection.py --quick         # a smoke run

Replicate r draws its own 20,000-row reference; every window of every scenario and size is
drawn from seeds (seed, r, cell, size), so any cell can be re-run on its own.
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
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.detection_data import (
    CATEGORICAL,
    FEATURES,
    NEW,
    NUMERIC,
    SCENARIOS,
    SIZES,
    cells,
    reference,
    window,
)
from monitor.drift.decision import DecisionInput, decide
from monitor.drift.multivariate import domain_classifier
from monitor.drift.rates import RateFloors
from tests.oracle.profile_frame import build_specs, profile_frame

LEVELS = (0.01, 0.02, 0.05)  # run-level BH budgets at which Driftline's verdicts are summarised


def bh_adjusted(p: list[float]) -> np.ndarray:
    """Benjamini-Hochberg adjusted p-values: a column is flagged at level a exactly when its value <= a."""
    m = len(p)
    order = np.argsort(p)
    adj = np.minimum.accumulate((np.asarray(p)[order] * m / np.arange(1, m + 1))[::-1])[::-1]
    out = np.empty(m)
    out[order] = np.minimum(adj, 1.0)
    return out


def driftline(specs: dict, ref_prof, prof, mv_test, seed: int, before: bool,
              floor_alpha: float | None = None) -> dict[str, float]:
    """Per column, the smallest run-level budget at which Driftline flags it (BH-adjusted p-value).

    ``before``: the rule before issue 17 (distance and spread only: every column 'continuous');
    ``floor_alpha``: the rate tests' gate (section 2d of docs/drift-decisions.md), None: the default."""
    floors = RateFloors() if floor_alpha is None else RateFloors(floor_alpha=floor_alpha)
    items: list = [
        DecisionInput(name, kind, specs[name], ref_prof.features[name], prof.features[name],  # type: ignore[arg-type]
                      column_kind="continuous" if before else None, rate_floors=floors)
        for name, kind in FEATURES
    ]
    if mv_test is not None:
        items.append(mv_test)
    got = [d for d in decide(items, seed=seed, fdr=0.01) if d.p_value is not None]
    return dict(zip([d.name for d in got], bh_adjusted([float(d.p_value) for d in got]).tolist(), strict=True))


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


def _tasks(cfg: dict) -> list[tuple[int, str, dict]]:
    """No-change tasks (cheap, --replicates of them) interleaved with change tasks (every other cell,
    --power-replicates), so that a run stopped early still holds both in proportion."""
    nulls = [(r, "null", cfg) for r in range(cfg.get("null_start", 0), cfg["null_reps"])]
    powers = [(r, "power", cfg) for r in range(cfg["power_reps"])]
    step = max(1, len(nulls) // max(len(powers), 1))
    out: list[tuple[int, str, dict]] = []
    for i, task in enumerate(powers):
        out += [task, *nulls[i * step:(i + 1) * step]]
    return out + nulls[len(powers) * step:]


def replicate(args: tuple[int, str, dict]) -> list[tuple[str, int, str, bool, bool]]:
    """One task: replicate r's own reference, then its no-change cells ("null") or every other cell ("power")."""
    r, what, cfg = args
    from threadpoolctl import threadpool_limits

    warnings.filterwarnings("ignore")
    out = []
    with threadpool_limits(1):
        ref = reference(cfg["seed"], r)
        specs = build_specs(ref, FEATURES)  # type: ignore[arg-type]
        ref_prof = profile_frame(ref, specs)
        ref_ds = None
        for ci, (sc, n) in enumerate(cells(tuple(cfg["sizes"]))):
            if (sc.change == "none") != (what == "null"):
                continue
            if what == "power" and not sc.power and r >= cfg["below_reps"]:
                continue
            if what == "power" and sc.power and not sc.new and r >= cfg["main_reps"]:
                continue
            win = window(cfg["seed"], r, ci, n, sc)
            seed = cfg["seed"] * 1_000_003 + r
            target = "multivariate" if sc.change == "correlation" else sc.target
            prof = profile_frame(win, specs)
            mv = None
            if sc.change in ("none", "correlation") and r < cfg["mv_reps"]:
                mv = domain_classifier(ref, win, [f for f, _ in FEATURES], seed=seed).as_test()
            # the rule before issue 17 on issue 5's scenarios (no loss of power) and, cheaply, on the new kinds' first runs
            before = what == "power" and (not sc.new or r < cfg["main_reps"])
            rules = (("driftline", False), ("driftline before", True)) if before else (("driftline", False),)
            for method, before in rules:
                q = driftline(specs, ref_prof, prof, mv, seed, before, cfg.get("floor_alpha"))
                any_q = min(q.values()) if q else 1.0
                for level in LEVELS if not before else LEVELS[:1]:
                    out.append((f"{method} @{level:g}", n, sc.name, any_q <= level, q.get(target, 1.0) <= level))
            if r < cfg["ev_reps"] and (sc.new or sc.change == "none"):
                if ref_ds is None:
                    from evidently import Dataset

                    ref_ds = Dataset.from_pandas(ref, data_definition=_definition())
                got = evidently(ref_ds, win)
                out.append(("evidently", n, sc.name, bool(got), sc.target in got))
            if r < cfg["p_reps"] and sc.change != "correlation":
                got = pvalues(ref, win)
                out.append(("p<0.05", n, sc.name, bool(got), sc.target in got))
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
    order = {sc.name: i for i, sc in enumerate(SCENARIOS)}
    for r in sorted(results, key=lambda x: (order.get(x["scenario"], 99), x["rows"], x["method"])):
        lo, hi = r["any_alarm_ci"]
        tlo, thi = r["target_ci"]
        target = "" if r["scenario"] == "no change" else f"{100*r['target']:.1f}% [{100*tlo:.1f}, {100*thi:.1f}]"
        lines.append(f"| {r['scenario']} | {r['rows']:,} | {r['method']} | {r['replicates']} | "
                     f"{100*r['any_alarm']:.1f}% [{100*lo:.1f}, {100*hi:.1f}] | {target} |")
    return "\n".join(lines)


def compact(results: list[dict], methods: list[str]) -> str:
    """One row per scenario and size, one column per method: the changed column's rate (any alarm for
    no-change and below-floor rows), with its Wilson interval and replicates."""
    by = {(r["scenario"], r["rows"], r["method"]): r for r in results}
    lines = ["| scenario | rows | " + " | ".join(methods) + " |", "|---|---:|" + "---|" * len(methods)]
    for sc in SCENARIOS:
        for n in sorted({r["rows"] for r in results}):
            cellv = []
            for m in methods:
                r = by.get((sc.name, n, m))
                if r is None:
                    cellv.append("")
                    continue
                key = "any_alarm" if not sc.power else "target"
                lo, hi = r[key + "_ci"]
                cellv.append(f"{100 * r[key]:.1f}% [{100 * lo:.1f}, {100 * hi:.1f}] ({r['replicates']})")
            if any(cellv):
                lines.append(f"| {sc.name} | {n:,} | " + " | ".join(cellv) + " |")
    return "\n".join(lines)


def pooled(results: list[dict]) -> list[dict]:
    """Per method and size: power pooled over issue 17's new kinds of change, with its Wilson interval."""
    new = {sc.name for sc in NEW}
    acc: dict[tuple[str, int], list[float]] = {}
    for r in results:
        if r["scenario"] in new:
            a = acc.setdefault((r["method"], r["rows"]), [0, 0])
            a[0] += r["replicates"]
            a[1] += round(r["target"] * r["replicates"])
    return [{"method": m, "rows": n, "replicates": k, "power": hits / k, "power_ci": wilson(int(hits), k)}
            for (m, n), (k, hits) in sorted(acc.items())]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: few replicates")
    parser.add_argument("--replicates", type=int, default=500, help="no-change replicates (below-floor: <= 200)")
    parser.add_argument("--power-replicates", type=int, default=100, help="per change of issue 17's new kinds")
    parser.add_argument("--main-replicates", type=int, default=100, help="per change of issue 5's scenarios")
    parser.add_argument("--below-replicates", type=int, default=100, help="per below-floor change")
    parser.add_argument("--mv-replicates", type=int, default=100, help="runs that include the domain classifier")
    parser.add_argument("--evidently-replicates", type=int, default=5)
    parser.add_argument("--p-replicates", type=int, default=100, help="runs of per-column p < 0.05")
    parser.add_argument("--null-start", type=int, default=0, help="first no-change replicate (to split a run)")
    parser.add_argument("--sizes", type=int, nargs="+", default=list(SIZES))
    parser.add_argument("--floor-alpha", type=float, help="the rate tests' gate (default: the config default)")
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--seed", type=int, default=20261201)
    parser.add_argument("--nannyml-rows", type=Path, help="rows written by bench/detection_nannyml.py, merged")
    parser.add_argument("--rows", type=Path, help="re-summarise rows saved by an earlier run instead of running")
    parser.add_argument("--out", type=Path, default=Path("bench/detection-results.json"))
    a = parser.parse_args(argv)
    if a.quick:
        a.replicates, a.power_replicates, a.mv_replicates, a.evidently_replicates = 6, 4, 3, 2
        a.main_replicates, a.below_replicates, a.p_replicates = 4, 4, 4
    cfg = {"seed": a.seed, "sizes": a.sizes, "null_reps": a.replicates, "power_reps": a.power_replicates,
           "main_reps": a.main_replicates, "below_reps": a.below_replicates, "mv_reps": a.mv_replicates,
           "ev_reps": a.evidently_replicates, "p_reps": a.p_replicates, "null_start": a.null_start,
           "floor_alpha": a.floor_alpha}
    tasks = _tasks(cfg)
    total = len(tasks)
    start = time.perf_counter()
    rows: list = []
    raw = a.out.with_suffix(".rows.json")
    if a.rows:
        saved = json.loads(a.rows.read_text())
        rows, cfg = saved["rows"], saved["config"]
    else:
        with mp.get_context("spawn").Pool(a.workers) as pool:
            for i, part in enumerate(pool.imap(replicate, tasks)):
                rows.extend(part)
                if (i + 1) % 6 == 0 or i + 1 == total:  # partial rows survive an interrupted run
                    print(f"  {i + 1}/{total} replicates, {time.perf_counter() - start:.0f} s", file=sys.stderr)
                    raw.write_text(json.dumps({"config": cfg, "done": i + 1, "rows": rows}))
    elapsed = time.perf_counter() - start
    if a.nannyml_rows:
        rows = [*rows, *json.loads(a.nannyml_rows.read_text())["rows"]]
    results = summarise([tuple(x) for x in rows])  # type: ignore[misc]
    machine = f"{platform.processor() or platform.machine()}, {mp.cpu_count()} cores, Python {platform.python_version()}"
    a.out.parent.mkdir(parents=True, exist_ok=True)
    a.out.write_text(json.dumps({"config": cfg, "seconds": elapsed, "machine": machine, "results": results,
                                 "pooled_new": pooled(results)}, indent=1))
    print(table(results))
    print("\n" + compact(results, sorted({r["method"] for r in results})))
    print("\n| method | rows | runs | pooled power over the new kinds |\n|---|---:|---:|---|")
    for p in pooled(results):
        print(f"| {p['method']} | {p['rows']:,} | {p['replicates']} | {100 * p['power']:.1f}% "
              f"[{100 * p['power_ci'][0]:.1f}, {100 * p['power_ci'][1]:.1f}] |")
    print(f"\n{elapsed:.0f} s on {machine}; results in {a.out}")


if __name__ == "__main__":
    main()
