"""The performance decision: a drop is a change beyond a practical floor, with a known false-alarm rate.

For each metric of a window, the hypothesis is "the window is worse than the reference by at most
the metric's floor". It is tested with both sampling errors, the window's and the reference's:

    z = (direction * (reference - value) - floor) / sqrt(se_window^2 + se_reference^2)

one-sided (two-sided on |value - reference| for the rates, which have no good direction). Each
standard error is read off the metric's own interval, ``(hi - lo) / (2 z_conf)``: Wilson for the
proportions, DeLong for ROC AUC, the bootstrap for F1, balanced accuracy and PR AUC. The window's
metrics are then one Benjamini-Hochberg family at ``policy.fdr``, as the drift rule treats a run's
columns: under no change BH's false discovery rate is its family-wise error rate, so at most
``fdr`` of unchanged windows raise any drop, and the floors push the rate well below it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np
from scipy.stats import false_discovery_control, norm

from monitor.performance.values import DIRECTION, MetricValue, PerformancePolicy, Verdict, z_value


def standard_error(m: MetricValue | None, confidence: float) -> float | None:
    """The standard error a metric's interval implies (0 for a bare reference value, None: unknown)."""
    if m is None or m.value is None:
        return None
    if m.interval is None:
        return 0.0
    lo, hi = m.interval
    return max(0.0, (hi - lo) / (2 * z_value(confidence)))


def drop_p_value(value: float, se: float, reference: float, reference_se: float, direction: int,
                 floor: float) -> float:
    """P-value of "worse than the reference by more than the floor" (direction 0: moved either way)."""
    excess = (direction * (reference - value) if direction else abs(value - reference)) - floor
    spread = math.hypot(se, reference_se)
    if spread == 0.0:
        return 0.0 if excess > 0 else 1.0
    p = float(norm.sf(excess / spread))
    return min(1.0, 2 * p) if direction == 0 else p


def decide(window: Mapping[str, MetricValue], reference: Mapping[str, MetricValue], policy: PerformancePolicy,
           judged: frozenset[str] | None = None) -> dict[str, MetricValue]:
    """Every metric with its reference, floor, p-value and verdict; `judged` (default all) are the family."""
    out: dict[str, MetricValue] = {}
    family: list[tuple[str, float]] = []
    for name, m in window.items():
        ref = reference.get(name)
        ref_value = None if ref is None else ref.value
        floor = policy.floor(name)
        verdict: Verdict = "not_yet_known" if m.value is None or m.interval is None else (
            "no_reference" if ref_value is None else "ok")
        out[name] = MetricValue(m.value, m.interval, ref_value, verdict, floor=floor)
        if verdict == "ok" and (judged is None or name in judged):
            se, ref_se = standard_error(m, policy.confidence), standard_error(ref, policy.confidence)
            assert m.value is not None and se is not None and ref_value is not None and ref_se is not None
            family.append((name, drop_p_value(m.value, se, ref_value, ref_se, DIRECTION[name], floor)))
    if family:
        adjusted = false_discovery_control(np.array([p for _, p in family]), method="bh")
        for (name, p), q in zip(family, adjusted, strict=True):
            hit: Verdict = ("changed" if DIRECTION[name] == 0 else "drop") if q <= policy.fdr else "ok"
            m = out[name]
            out[name] = MetricValue(m.value, m.interval, m.reference, hit, p_value=p, floor=m.floor)
    return out
