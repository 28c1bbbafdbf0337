"""Realized model performance of one window, from counts the store computes in SQL.

The store joins the window's predictions to labels on request id and returns a `LabelledCounts`;
nothing here grows with the number of rows. Label 1 is the class whose probability the model
outputs; a prediction is positive when ``p >= threshold``. Probabilities are binned on ``bins``
equal-width bins of [0, 1]: bin ``min(floor(p * bins), bins - 1)`` (in SQL
``LEAST(CAST(FLOOR(p * B) AS INTEGER), B - 1)``), so scores in one bin count as tied.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import StoreError
from monitor.performance.decision import decide
from monitor.performance.values import (
    DIRECTION,
    LABEL_FREE,
    Interval,
    MetricValue,
    PerformancePolicy,
    Status,
    Verdict,
    z_value,
)


def bin_of(probabilities: ArrayLike, bins: int) -> NDArray[np.int64]:
    """The bin index of each probability, exactly as the store's SQL computes it."""
    p = np.asarray(probabilities, dtype=float)
    return np.minimum(np.floor(p * bins), bins - 1).astype(np.int64)


@dataclass(frozen=True)
class LabelledCounts:
    """What the store returns for one window (or the reference): predictions joined to labels."""

    predictions: int  # every prediction in the window, labelled or not
    predicted_positive: int  # of those, p >= threshold
    tp: int  # the four cells count labelled rows only, at the threshold
    fp: int
    tn: int
    fn: int
    positives: tuple[int, ...]  # labelled rows with label 1, per probability bin
    negatives: tuple[int, ...]  # labelled rows with label 0, per probability bin
    brier_sum: float  # sum over labelled rows of (p - y)^2
    brier_sq_sum: float  # sum over labelled rows of (p - y)^4, for the Brier score's interval

    def __post_init__(self) -> None:
        if len(self.positives) != len(self.negatives) or not self.positives:
            raise StoreError("performance histograms: positives and negatives need the same, non-zero bins")
        if sum(self.positives) != self.tp + self.fn or sum(self.negatives) != self.fp + self.tn:
            raise StoreError(
                f"performance counts disagree: histograms hold {sum(self.positives)} positives and "
                f"{sum(self.negatives)} negatives, the confusion matrix {self.tp + self.fn} and "
                f"{self.fp + self.tn}"
            )
        if self.labelled > self.predictions or self.predicted_positive > self.predictions:
            raise StoreError(f"performance counts: more labelled rows than the {self.predictions} predictions")

    @property
    def labelled(self) -> int:
        """Predictions of the window that have a label."""
        return self.tp + self.fp + self.tn + self.fn

    @property
    def coverage(self) -> float:
        """Share of the window's predictions that have a label (0 for an empty window)."""
        return self.labelled / self.predictions if self.predictions else 0.0

    @classmethod
    def from_rows(
        cls, probabilities: ArrayLike, labels: ArrayLike, threshold: float, bins: int = 200
    ) -> LabelledCounts:
        """Count rows in Python as the SQL does (labels NaN where not yet known): reference files, tests."""
        p = np.asarray(probabilities, dtype=float)
        y = np.asarray(labels, dtype=float)
        known = ~np.isnan(y)
        pk, yk = p[known], y[known].astype(int)
        pred = pk >= threshold
        b = bin_of(pk, bins)
        err = (pk - yk) ** 2
        return cls(
            predictions=int(p.size),
            predicted_positive=int(np.sum(p >= threshold)),
            tp=int(np.sum(pred & (yk == 1))),
            fp=int(np.sum(pred & (yk == 0))),
            tn=int(np.sum(~pred & (yk == 0))),
            fn=int(np.sum(~pred & (yk == 1))),
            positives=tuple(int(c) for c in np.bincount(b[yk == 1], minlength=bins)),
            negatives=tuple(int(c) for c in np.bincount(b[yk == 0], minlength=bins)),
            brier_sum=float(err.sum()),
            brier_sq_sum=float((err**2).sum()),
        )


@dataclass(frozen=True)
class PerformanceResult:
    """Realized performance of one window: the run summary's ``performance`` key."""

    status: Status
    labelled: int
    predictions: int
    metrics: dict[str, MetricValue]
    key_class: int
    confidence: float

    @property
    def coverage(self) -> float:
        return self.labelled / self.predictions if self.predictions else 0.0

    def to_summary(self) -> dict[str, Any]:
        """The JSON shape stored under the run summary key ``performance``."""
        return {
            "status": self.status,
            "coverage": {"labelled": self.labelled, "predictions": self.predictions, "fraction": self.coverage},
            "key_class": self.key_class,
            "confidence": self.confidence,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


def wilson(successes: int, trials: int, confidence: float = 0.95) -> Interval | None:
    """Wilson score interval of a binomial proportion (None when there are no trials)."""
    if trials <= 0:
        return None
    z = z_value(confidence)
    phat = successes / trials
    denom = 1 + z * z / trials
    centre = (phat + z * z / (2 * trials)) / denom
    half = z * math.sqrt(phat * (1 - phat) / trials + z * z / (4 * trials * trials)) / denom
    return (max(0.0, centre - half), min(1.0, centre + half))


def _ratio(num: NDArray[np.float64], den: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)


def count_metrics(tp: ArrayLike, fp: ArrayLike, tn: ArrayLike, fn: ArrayLike) -> dict[str, NDArray[np.float64]]:
    """Confusion-matrix metrics, elementwise over arrays of counts (NaN where undefined)."""
    tp_, fp_, tn_, fn_ = (np.asarray(a, dtype=float) for a in (tp, fp, tn, fn))
    recall_1, recall_0 = _ratio(tp_, tp_ + fn_), _ratio(tn_, tn_ + fp_)
    return {
        "accuracy": _ratio(tp_ + tn_, tp_ + fp_ + tn_ + fn_),
        "balanced_accuracy": (recall_0 + recall_1) / 2,
        "precision_0": _ratio(tn_, tn_ + fn_),
        "recall_0": recall_0,
        "f1_0": _ratio(2 * tn_, 2 * tn_ + fn_ + fp_),
        "precision_1": _ratio(tp_, tp_ + fp_),
        "recall_1": recall_1,
        "f1_1": _ratio(2 * tp_, 2 * tp_ + fp_ + fn_),
    }


def roc_auc_from_histograms(positives: ArrayLike, negatives: ArrayLike) -> NDArray[np.float64]:
    """ROC AUC from per-bin counts in ascending score order (last axis); ties in a bin count 1/2."""
    pos, neg = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    below = np.cumsum(neg, axis=-1) - neg
    wins = np.sum(pos * (below + 0.5 * neg), axis=-1)
    return _ratio(wins, pos.sum(axis=-1) * neg.sum(axis=-1))


def average_precision_from_histograms(positives: ArrayLike, negatives: ArrayLike) -> NDArray[np.float64]:
    """Average precision (sklearn's step-wise PR AUC) from per-bin counts in ascending score order."""
    pos = np.asarray(positives, dtype=float)[..., ::-1]
    neg = np.asarray(negatives, dtype=float)[..., ::-1]
    # Each bin is one threshold: recall grows by its positives at the precision of everything above it.
    precision = np.nan_to_num(_ratio(np.cumsum(pos, axis=-1), np.cumsum(pos + neg, axis=-1)))
    return _ratio(np.sum(pos * precision, axis=-1), pos.sum(axis=-1))


def delong_interval(positives: ArrayLike, negatives: ArrayLike, confidence: float) -> Interval | None:
    """DeLong's normal interval for ROC AUC, exact for binned (tied) scores."""
    pos, neg = np.asarray(positives, dtype=float), np.asarray(negatives, dtype=float)
    n_pos, n_neg = pos.sum(), neg.sum()
    if n_pos < 2 or n_neg < 2:
        return None
    v10 = (np.cumsum(neg) - neg + 0.5 * neg) / n_neg  # each positive's share of negatives beaten
    v01 = (n_pos - np.cumsum(pos) + 0.5 * pos) / n_pos  # each negative's share of positives above it
    auc = float(np.sum(pos * v10) / n_pos)
    s10 = np.sum(pos * (v10 - auc) ** 2) / (n_pos - 1)
    s01 = np.sum(neg * (v01 - auc) ** 2) / (n_neg - 1)
    half = z_value(confidence) * math.sqrt(s10 / n_pos + s01 / n_neg)
    return (max(0.0, auc - half), min(1.0, auc + half))


def percentile_interval(replicates: NDArray[np.float64], confidence: float) -> Interval | None:
    """Percentile interval of bootstrap replicates, ignoring undefined ones."""
    finite = replicates[np.isfinite(replicates)]
    if finite.size < 0.5 * replicates.size:
        return None
    alpha = (1 - confidence) / 2
    lo, hi = np.quantile(finite, [alpha, 1 - alpha])
    return (float(lo), float(hi))


def _num(x: float | NDArray[np.float64]) -> float | None:
    v = float(x)
    return v if math.isfinite(v) else None


def measure(counts: LabelledCounts, policy: PerformancePolicy) -> dict[str, MetricValue]:
    """Every metric of one set of counts, with its interval (no reference, no verdict yet)."""
    c, conf = counts, policy.confidence
    rng = np.random.default_rng(policy.seed)
    values = {k: _num(v) for k, v in count_metrics(c.tp, c.fp, c.tn, c.fn).items()}
    proportions = {
        "accuracy": (c.tp + c.tn, c.labelled),
        "precision_0": (c.tn, c.tn + c.fn),
        "recall_0": (c.tn, c.tn + c.fp),
        "precision_1": (c.tp, c.tp + c.fp),
        "recall_1": (c.tp, c.tp + c.fn),
    }
    out = {k: MetricValue(values[k], wilson(s, n, conf)) for k, (s, n) in proportions.items()}

    # Balanced accuracy and F1 are functions of the four cells: a multinomial bootstrap of the cells
    # is the row bootstrap.
    cells = np.array([c.tp, c.fp, c.tn, c.fn], dtype=float)
    if c.labelled:
        draws = rng.multinomial(c.labelled, cells / c.labelled, size=policy.resamples).T
        boot = count_metrics(*draws)
    for k in ("balanced_accuracy", "f1_0", "f1_1"):
        interval = percentile_interval(boot[k], conf) if c.labelled and values[k] is not None else None
        out[k] = MetricValue(values[k], interval)

    pos, neg = np.array(c.positives), np.array(c.negatives)
    out["roc_auc"] = MetricValue(_num(roc_auc_from_histograms(pos, neg)), delong_interval(pos, neg, conf))
    hist = np.concatenate([pos, neg]).astype(float)
    if c.labelled:
        resampled = rng.multinomial(c.labelled, hist / c.labelled, size=policy.resamples)
        bpos, bneg = resampled[:, : pos.size], resampled[:, pos.size :]
    for k, (hp, hn) in {"pr_auc_1": (pos, neg), "pr_auc_0": (neg[::-1], pos[::-1])}.items():
        value = _num(average_precision_from_histograms(hp, hn))
        interval = None
        if c.labelled and value is not None:
            bp, bn = (bpos, bneg) if k == "pr_auc_1" else (bneg[:, ::-1], bpos[:, ::-1])
            interval = percentile_interval(average_precision_from_histograms(bp, bn), conf)
        out[k] = MetricValue(value, interval)

    out["brier"] = MetricValue(*_brier(c, conf))
    out["predicted_positive_rate"] = MetricValue(
        c.predicted_positive / c.predictions if c.predictions else None,
        wilson(c.predicted_positive, c.predictions, conf),
    )
    out["base_rate"] = MetricValue((c.tp + c.fn) / c.labelled if c.labelled else None,
                                   wilson(c.tp + c.fn, c.labelled, conf))
    return {k: out[k] for k in DIRECTION}


def _brier(c: LabelledCounts, confidence: float) -> tuple[float | None, Interval | None]:
    """Brier score and its normal interval from the sums of the squared errors and of their squares."""
    n = c.labelled
    if n == 0:
        return None, None
    mean = c.brier_sum / n
    if n < 2:
        return mean, None
    var = max(0.0, (c.brier_sq_sum - n * mean * mean) / (n - 1))
    half = z_value(confidence) * math.sqrt(var / n)
    return mean, (max(0.0, mean - half), min(1.0, mean + half))


def judge(value: float | None, interval: Interval | None, reference: float | None,
          direction: int, tolerance: float = 0.0) -> Verdict:
    """The rule before the floors (bench/performance_alarms.py compares it): drop if the whole interval is
    worse than the reference's point value by more than the tolerance."""
    if value is None or interval is None:
        return "not_yet_known"
    if reference is None:
        return "no_reference"
    lo, hi = interval
    if direction > 0:
        return "drop" if hi < reference - tolerance else "ok"
    if direction < 0:
        return "drop" if lo > reference + tolerance else "ok"
    return "ok" if lo - tolerance <= reference <= hi + tolerance else "changed"


def label_status(counts: LabelledCounts, policy: PerformancePolicy, settled: bool = False) -> Status:
    """How far the window's labels have come: not yet known, provisional, or final."""
    if counts.labelled < policy.min_labelled or counts.coverage < policy.min_coverage:
        return "final" if settled and counts.labelled >= policy.min_labelled else "not_yet_known"
    if settled or counts.coverage >= policy.complete_coverage:
        return "final"
    return "provisional"


def reference_values(reference: PerformanceResult | Mapping[str, float | None] | None) -> dict[str, float | None]:
    """Reference values by metric name, from a computed reference or a plain mapping."""
    if reference is None:
        return {}
    if isinstance(reference, PerformanceResult):
        return {k: m.value for k, m in reference.metrics.items()}
    return dict(reference)


def reference_metrics(reference: PerformanceResult | Mapping[str, float | None] | None) -> dict[str, MetricValue]:
    """The reference's metrics with their intervals; a plain mapping of values has no sampling error."""
    if reference is None:
        return {}
    if isinstance(reference, PerformanceResult):
        return dict(reference.metrics)
    return {k: MetricValue(v, None) for k, v in reference.items()}


def evaluate(
    counts: LabelledCounts,
    policy: PerformancePolicy,
    reference: PerformanceResult | Mapping[str, float | None] | None = None,
    settled: bool = False,
) -> PerformanceResult:
    """Realized performance of a window against the reference.

    ``settled`` is the caller's word that the window's coverage has stopped changing (no new labels
    for long enough), which makes an incomplete window final.
    """
    status = label_status(counts, policy, settled)
    judged = LABEL_FREE if status == "not_yet_known" else None
    metrics = decide(measure(counts, policy), reference_metrics(reference), policy, judged)
    if judged is not None:
        metrics = {k: m if k in judged else replace(m, verdict="not_yet_known") for k, m in metrics.items()}
    return PerformanceResult(status, counts.labelled, counts.predictions, metrics,
                             policy.key_class, policy.confidence)


def reference_performance(counts: LabelledCounts, policy: PerformancePolicy) -> PerformanceResult:
    """The labelled reference's performance, computed the same way as a window's."""
    return evaluate(counts, policy, reference=None, settled=True)
