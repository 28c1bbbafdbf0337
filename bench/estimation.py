"""Bench of CBPE: estimated vs realized accuracy and defect recall over simulated windows.

Run from the repository root: ``.venv/bin/python -m bench.estimation [--windows 12 --rows 2000]``.

Scenarios, each over windows of rising intensity (0 to 1):
- ``covariate_shift``: the input mix changes and P(label | inputs) cannot: windows are drawn from a
  large unchanged simulator pool, rows selected by their logged force/torque alone (so the defect
  process given the inputs is the reference's by construction). CBPE's home ground.
- ``sim_covariate_shift``: monitor/simulate.py's scenario of that name, as it stands.
- ``concept_drift``: monitor/simulate.py's scenario: same inputs, a new defect relation.
The naive estimate is the reference value (what a team assumes without labels).
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from monitor.demo import simulate
from monitor.performance.estimated import ScoreHistogram, estimate, fit_calibrator
from monitor.performance.realized import LabelledCounts, PerformancePolicy, evaluate, reference_performance

THRESHOLD = 0.5
METRICS = ("accuracy", "recall_0")


@dataclass
class Row:
    """One window: realized, estimated (with interval and verdict) and the realized verdict."""

    scenario: str
    level: float
    realized: dict[str, float]
    estimated: dict[str, float]
    interval: dict[str, tuple[float, float]]
    estimated_verdict: dict[str, str]
    realized_verdict: dict[str, str]


def selected_shift(rows: int, rng: np.random.Generator, level: float, pool: pd.DataFrame) -> pd.DataFrame:
    """A covariate shift by selection on inputs: weights depend on logged signals only."""
    fz = pool["fz_last"].to_numpy()
    z = (fz - fz.mean()) / fz.std()
    # Lower end-of-mount force is more frequent as the level rises (a harder tire mix).
    weights = np.exp(-1.2 * level * z)
    idx = rng.choice(len(pool), size=rows, replace=False, p=weights / weights.sum())
    return pool.iloc[idx]


def windows(scenario: str, levels: np.ndarray, rows: int, seed: int) -> list[tuple[float, pd.DataFrame]]:
    """Seeded windows of one scenario, one per level."""
    rng = np.random.default_rng(seed)
    if scenario == "covariate_shift":
        pool = simulate.assemblies(30 * rows, rng)
        return [(float(lv), selected_shift(rows, rng, lv, pool)) for lv in levels]
    name = {"sim_covariate_shift": "covariate_shift"}.get(scenario, scenario)
    return [(float(lv), simulate.assemblies(rows, rng, scenario=name, level=float(lv))) for lv in levels]


def run(scenarios: tuple[str, ...], n_windows: int, rows: int, seed: int) -> tuple[list[Row], dict[str, float]]:
    """Every window of every scenario, plus timings in milliseconds."""
    policy = PerformancePolicy(resamples=1000, seed=seed)
    ref = simulate.reference(10_000, seed=7)
    t0 = time.perf_counter()
    calibrator = fit_calibrator(ref["probability"], ref["label"])
    t_fit = time.perf_counter() - t0
    reference = reference_performance(LabelledCounts.from_rows(ref["probability"], ref["label"], THRESHOLD),
                                      policy)
    levels = np.linspace(0.0, 1.0, n_windows)
    out, t_est, t_eval = [], [], []
    for scenario in scenarios:
        for level, frame in windows(scenario, levels, rows, seed):
            p, y = frame["probability"].to_numpy(), frame["label"].to_numpy()
            hist = ScoreHistogram.from_probabilities(p, THRESHOLD)
            t0 = time.perf_counter()
            est = estimate(hist, calibrator, policy, reference)
            t_est.append(time.perf_counter() - t0)
            counts = LabelledCounts.from_rows(p, y, THRESHOLD)
            t0 = time.perf_counter()
            real = evaluate(counts, policy, reference)
            t_eval.append(time.perf_counter() - t0)
            out.append(Row(
                scenario, level,
                {m: real.metrics[m].value for m in METRICS},  # type: ignore[misc]
                {m: est.metrics[m].value for m in METRICS},  # type: ignore[misc]
                {m: est.metrics[m].interval for m in METRICS},  # type: ignore[misc]
                {m: est.metrics[m].verdict for m in METRICS},
                {m: real.metrics[m].verdict for m in METRICS},
            ))
    timings = {"calibrate_ms": 1e3 * t_fit, "estimate_ms": 1e3 * float(np.median(t_est)),
               "evaluate_ms": 1e3 * float(np.median(t_eval))}
    refs = {f"reference_{m}": float(reference.metrics[m].value or 0.0) for m in METRICS}
    return out, {**timings, **refs}


def summarise(rows: list[Row], refs: dict[str, float]) -> pd.DataFrame:
    """MAE of CBPE and of the naive reference value, interval coverage, verdict agreement."""
    records = []
    for scenario in dict.fromkeys(r.scenario for r in rows):
        mine = [r for r in rows if r.scenario == scenario]
        for m in METRICS:
            real = np.array([r.realized[m] for r in mine])
            est = np.array([r.estimated[m] for r in mine])
            covered = [r.interval[m][0] <= r.realized[m] <= r.interval[m][1] for r in mine]
            records.append({
                "scenario": scenario,
                "metric": m,
                "windows": len(mine),
                "mae_cbpe": float(np.mean(np.abs(est - real))),
                "mae_naive": float(np.mean(np.abs(refs[f"reference_{m}"] - real))),
                "in_interval": f"{sum(covered)}/{len(mine)}",
                "drops_realized": sum(r.realized_verdict[m] == "drop" for r in mine),
                "drops_estimated": sum(r.estimated_verdict[m] == "drop" for r in mine),
            })
    return pd.DataFrame(records)


def late_labels(seed: int, rows: int) -> list[str]:
    """One concept-drift window as its labels arrive: estimate first, then realized, provisional to final."""
    policy = PerformancePolicy(resamples=1000, seed=seed)
    ref = simulate.reference(10_000, seed=7)
    calibrator = fit_calibrator(ref["probability"], ref["label"])
    reference = reference_performance(LabelledCounts.from_rows(ref["probability"], ref["label"], THRESHOLD),
                                      policy)
    frame = simulate.assemblies(rows, np.random.default_rng(seed), scenario="concept_drift", level=1.0)
    p, y = frame["probability"].to_numpy(), frame["label"].to_numpy().astype(float)
    est = estimate(ScoreHistogram.from_probabilities(p, THRESHOLD), calibrator, policy, reference).metrics["recall_0"]
    lines = [f"estimated recall_0 {est.value:.3f} {est.verdict} (reference {reference.metrics['recall_0'].value:.3f})"]
    for share in (0.03, 0.6, 1.0):
        known = y.copy()
        known[int(share * rows):] = np.nan
        real = evaluate(LabelledCounts.from_rows(p, known, THRESHOLD), policy, reference)
        m = real.metrics["recall_0"]
        lines.append(f"labels {share:>4.0%}: {real.status:13s} recall_0 {m.value:.3f} {m.verdict}")
    return lines


def markdown(frame: pd.DataFrame) -> str:
    """A markdown table, without pandas' optional tabulate."""
    def cell(v: object) -> str:
        return f"{v:.3f}" if isinstance(v, float) else str(v)

    lines = ["| " + " | ".join(frame.columns) + " |", "|" + "---|" * len(frame.columns)]
    lines += ["| " + " | ".join(cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--windows", type=int, default=12)
    parser.add_argument("--rows", type=int, default=2000, help="predictions per window")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--detail", action="store_true", help="also print every window")
    args = parser.parse_args(argv)
    scenarios = ("covariate_shift", "sim_covariate_shift", "concept_drift")
    rows, info = run(scenarios, args.windows, args.rows, args.seed)
    print(markdown(summarise(rows, info)))
    print()
    print(", ".join(f"{k} {v:.3f}" for k, v in info.items()))
    print()
    print("\n".join(late_labels(args.seed, args.rows)))
    if args.detail:
        for r in rows:
            cells = "  ".join(
                f"{m} real {r.realized[m]:.3f} est {r.estimated[m]:.3f} "
                f"[{r.interval[m][0]:.3f}, {r.interval[m][1]:.3f}] {r.estimated_verdict[m]}/{r.realized_verdict[m]}"
                for m in METRICS
            )
            print(f"{r.scenario:20s} {r.level:.2f}  {cells}")


if __name__ == "__main__":
    main()
