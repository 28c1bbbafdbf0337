"""Bench of the performance drop rule: false-drop rate with no change, power, minimum detectable drop.

Run from the repository root: ``.venv/bin/python -m bench.performance_alarms [--replicates 300]``.

Windows and references are drawn from a known population (a binormal score model, class 0 the
important class at 18% of rows, 200 probability bins split at the 0.5 threshold), as the store's
counts: a multinomial draw of (bin, label) cells, so a 50,000-row reference costs as much as a
200-row window. Every replicate redraws the reference. A window "alerts" when a metric of the
default rule (``alerts.performance.on_drop``: the important class's recall, accuracy) has the
verdict ``drop``. The rule of monitor/performance/decision.py is measured beside the rule it
replaced (``judge``: the window's interval below the reference's point value, no floor, no family).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy.optimize import brentq
from scipy.stats import norm

from bench._common import machine
from monitor.config import defaults
from monitor.performance.realized import (
    DIRECTION,
    LabelledCounts,
    PerformancePolicy,
    PerformanceResult,
    evaluate,
    judge,
    reference_performance,
)
from monitor.performance.values import z_value

BINS = 200
THRESHOLD = 0.5
IMPORTANT_SHARE = 0.18  # class 0, the defects
SIGMA = 1.5
REFERENCES = (1_000, 5_000, 50_000)
WINDOWS = (200, 2_000, 20_000)
ALERTING = ("recall_0", "accuracy")  # the default rule with important_class 0


@dataclass(frozen=True)
class Population:
    """Logit of the score ~ N(mu_y, SIGMA) per label; cell probabilities over (bin, label)."""

    mu0: float = -0.2
    mu1: float = 2.0

    def cells(self) -> tuple[np.ndarray, np.ndarray]:
        edges = np.linspace(0, 1, BINS + 1)
        with np.errstate(divide="ignore"):
            logit = np.log(edges) - np.log1p(-edges)
        pos = np.diff(norm.cdf((logit - self.mu1) / SIGMA)) * (1 - IMPORTANT_SHARE)
        neg = np.diff(norm.cdf((logit - self.mu0) / SIGMA)) * IMPORTANT_SHARE
        return pos, neg

    def truth(self) -> dict[str, float]:
        recall_0 = norm.cdf(-self.mu0 / SIGMA)
        recall_1 = norm.sf(-self.mu1 / SIGMA)
        return {"recall_0": recall_0, "accuracy": IMPORTANT_SHARE * recall_0 + (1 - IMPORTANT_SHARE) * recall_1}


BASE = Population()


def recall_drop(points: float) -> Population:
    """The important class's recall lower by `points`: defects score like good parts more often."""
    target = BASE.truth()["recall_0"] - points
    return Population(mu0=-SIGMA * float(norm.ppf(target)), mu1=BASE.mu1)


def accuracy_drop(points: float) -> Population:
    """Accuracy lower by `points`: both classes' scores move toward the threshold by the same amount."""
    target = BASE.truth()["accuracy"] - points
    t = brentq(lambda t: Population(BASE.mu0 + t, BASE.mu1 - t).truth()["accuracy"] - target, 0.0, 2.0)
    return Population(BASE.mu0 + t, BASE.mu1 - t)


def draw(pop: Population, n: int, rng: np.random.Generator) -> LabelledCounts:
    """n labelled rows of the population, as the store would count them."""
    pos_p, neg_p = pop.cells()
    cells = rng.multinomial(n, np.concatenate([pos_p, neg_p]) / (pos_p.sum() + neg_p.sum()))
    pos, neg = cells[:BINS], cells[BINS:]
    up = np.arange(BINS) >= int(THRESHOLD * BINS)
    mid = (np.arange(BINS) + 0.5) / BINS
    err1, err0 = (mid - 1) ** 2, mid**2
    return LabelledCounts(
        predictions=n, predicted_positive=int(pos[up].sum() + neg[up].sum()),
        tp=int(pos[up].sum()), fp=int(neg[up].sum()), tn=int(neg[~up].sum()), fn=int(pos[~up].sum()),
        positives=tuple(int(c) for c in pos), negatives=tuple(int(c) for c in neg),
        brier_sum=float(pos @ err1 + neg @ err0), brier_sq_sum=float(pos @ err1**2 + neg @ err0**2),
    )


def old_verdicts(window: PerformanceResult, ref: PerformanceResult) -> dict[str, str]:
    return {k: judge(m.value, m.interval, ref.metrics[k].value, DIRECTION[k], 0.0) for k, m in window.metrics.items()}


def cell(pop: Population, ref_rows: int, window_rows: int, replicates: int, seed: int,
         policy: PerformancePolicy) -> dict[str, object]:
    """Alert shares of the new and the old rule over replicates that redraw reference and window."""
    rng = np.random.default_rng([seed, ref_rows, window_rows, abs(int(1e6 * pop.mu0)), abs(int(1e6 * pop.mu1))])
    new_alert = old_alert = 0
    new_hit = {k: 0 for k in ALERTING}
    old_hit = {k: 0 for k in ALERTING}
    se_w: dict[str, list[float]] = {k: [] for k in DIRECTION}
    se_r: dict[str, list[float]] = {k: [] for k in DIRECTION}
    z = z_value(policy.confidence)
    for _ in range(replicates):
        ref = reference_performance(draw(BASE, ref_rows, rng), policy)
        win = evaluate(draw(pop, window_rows, rng), policy, ref)
        old = old_verdicts(win, ref)
        new_alert += any(win.metrics[k].verdict == "drop" for k in ALERTING)
        old_alert += any(old[k] == "drop" for k in ALERTING)
        for k in ALERTING:
            new_hit[k] += win.metrics[k].verdict == "drop"
            old_hit[k] += old[k] == "drop"
        for k in DIRECTION:
            for m, out in ((win.metrics[k], se_w), (ref.metrics[k], se_r)):
                if m.interval is not None:
                    out[k].append((m.interval[1] - m.interval[0]) / (2 * z))
    return {"reference": ref_rows, "window": window_rows, "replicates": replicates,
            "new_alert_rate": new_alert / replicates, "old_alert_rate": old_alert / replicates,
            "new_drop_rate": {k: v / replicates for k, v in new_hit.items()},
            "old_drop_rate": {k: v / replicates for k, v in old_hit.items()},
            "se_window": {k: float(np.mean(v)) for k, v in se_w.items() if v},
            "se_reference": {k: float(np.mean(v)) for k, v in se_r.items() if v}}


def detectable(result: dict[str, object], policy: PerformancePolicy, power: float = 0.9) -> dict[str, dict[str, float]]:
    """Smallest drop each rule calls with `power`, from the measured standard errors (normal approximation).

    New rule: floor + (z_{1 - fdr/m} + z_power) * sqrt(se_w^2 + se_r^2), m the family's size (BH's
    first step, its most demanding: conservative when other metrics move too). Old rule: the window's
    upper bound must fall below the reference estimate, z_conf * se_w + z_power * sqrt(se_w^2 + se_r^2).
    """
    se_w, se_r = result["se_window"], result["se_reference"]  # type: ignore[index]
    m = len(DIRECTION)
    zp, zc, zf = norm.ppf(power), z_value(policy.confidence), norm.isf(policy.fdr / m)
    out = {}
    for k in DIRECTION:
        if DIRECTION[k] == 0 or k not in se_w or k not in se_r:  # type: ignore[operator]
            continue
        both = float(np.hypot(se_w[k], se_r[k]))  # type: ignore[index]
        out[k] = {"new": policy.floor(k) + (zf + zp) * both, "old": zc * se_w[k] + zp * both}  # type: ignore[index]
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replicates", type=int, default=300)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--resamples", type=int, default=defaults.RESAMPLES)
    parser.add_argument("--out", type=Path, default=Path("bench/performance-alarms-results.json"))
    args = parser.parse_args()
    policy = PerformancePolicy(resamples=args.resamples, seed=args.seed)
    t0 = time.perf_counter()
    truth = BASE.truth()
    print(f"population: recall_0 {truth['recall_0']:.3f}, accuracy {truth['accuracy']:.3f}; "
          f"{args.replicates} replicates per cell, each redrawing the reference")
    print("\nNo change: share of windows raising a performance alert (default rule: recall_0, accuracy)")
    print(f"{'reference':>10} {'window':>8} {'new rule':>9} {'old rule':>9}   minimum detectable drop, new / old "
          "(recall_0, accuracy, balanced_accuracy, f1_0, roc_auc)")
    null = []
    for ref_rows in REFERENCES:
        for window_rows in WINDOWS:
            r = cell(BASE, ref_rows, window_rows, args.replicates, args.seed, policy)
            r["detectable"] = detectable(r, policy)
            null.append(r)
            d = r["detectable"]
            mdd = "  ".join(f"{d[k]['new']:.3f}/{d[k]['old']:.3f}" for k in  # type: ignore[index]
                            ("recall_0", "accuracy", "balanced_accuracy", "f1_0", "roc_auc"))
            print(f"{ref_rows:>10,} {window_rows:>8,} {r['new_alert_rate']:>9.1%} {r['old_alert_rate']:>9.1%}   {mdd}",
                  flush=True)
    print("\nPower (share of windows where the dropped metric's verdict is drop)")
    power = []
    for name, metric, pop, ref_rows, window_rows in (
        ("recall_0 -0.20", "recall_0", recall_drop(0.20), 5_000, 2_000),
        ("accuracy -0.05", "accuracy", accuracy_drop(0.05), 5_000, 20_000),
    ):
        r = cell(pop, ref_rows, window_rows, args.replicates, args.seed, policy)
        r.update(scenario=name, metric=metric, truth=pop.truth())
        power.append(r)
        print(f"  {name} (reference {ref_rows:,}, window {window_rows:,}): new rule "
              f"{r['new_drop_rate'][metric]:.1%}, old rule {r['old_drop_rate'][metric]:.1%}", flush=True)  # type: ignore[index]
    seconds = time.perf_counter() - t0
    print(f"\n{seconds:.0f} s")
    args.out.write_text(json.dumps({"machine": machine(), "seed": args.seed, "replicates": args.replicates,
                                    "resamples": args.resamples, "floors": dict(policy.floors), "fdr": policy.fdr,
                                    "population": truth, "no_change": null, "power": power,
                                    "seconds": round(seconds, 1)}, indent=1))


if __name__ == "__main__":
    main()
