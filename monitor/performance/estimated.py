"""Estimated performance of a window before its labels arrive: confidence-based (CBPE, as NannyML).

The model's probabilities are calibrated on the labelled reference with isotonic regression; a
window's calibrated probabilities then give the expected confusion matrix, and so expected
accuracy, per-class precision, recall and F1, and ROC AUC, without a single label.

Assumes no concept drift: the estimate trusts that P(label | score) is what it was on the
reference. It follows covariate shift (the scores move, the relation holds) and misses concept
drift (the scores stay, the relation changes); only realized performance catches that.

The window comes as a `ScoreHistogram` (counts per probability bin, split at the threshold), so
nothing here grows with the number of rows.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from monitor.errors import InsufficientData, StoreError
from monitor.performance.decision import decide
from monitor.performance.realized import (
    LabelledCounts,
    MetricValue,
    PerformancePolicy,
    PerformanceResult,
    bin_of,
    count_metrics,
    percentile_interval,
    reference_metrics,
    reference_values,
    roc_auc_from_histograms,
)

ESTIMATED = (
    "accuracy",
    "balanced_accuracy",
    "precision_0",
    "recall_0",
    "f1_0",
    "precision_1",
    "recall_1",
    "f1_1",
    "roc_auc",
)
ASSUMPTION = "no concept drift: P(label | score) is as on the reference"


@dataclass(frozen=True)
class ScoreHistogram:
    """A window's probabilities per equal-width bin of [0, 1], split at the threshold; no labels.

    Bin i is ``min(floor(p * B), B - 1)`` as in monitor.performance.realized. ``below`` counts rows with
    p < threshold (predicted 0), ``above`` rows with p >= threshold (predicted 1); the sums of p
    per cell let each cell be calibrated at its mean instead of the bin's midpoint.
    """

    below: tuple[int, ...]
    above: tuple[int, ...]
    below_sum: tuple[float, ...] | None = None
    above_sum: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        sizes = {len(self.below), len(self.above)}
        sizes |= {len(s) for s in (self.below_sum, self.above_sum) if s is not None}
        if len(sizes) != 1 or not self.below:
            raise StoreError(f"score histogram: every part needs the same, non-zero bins, got {sorted(sizes)}")

    @property
    def bins(self) -> int:
        return len(self.below)

    @property
    def rows(self) -> int:
        return sum(self.below) + sum(self.above)

    @classmethod
    def from_probabilities(cls, probabilities: ArrayLike, threshold: float, bins: int = 200) -> ScoreHistogram:
        """Count probabilities in Python as the SQL does: benches, tests."""
        p = np.asarray(probabilities, dtype=float)
        b, up = bin_of(p, bins), p >= threshold

        def count(mask: NDArray[np.bool_], weights: NDArray[np.float64] | None = None) -> NDArray[np.float64]:
            w = None if weights is None else weights[mask]
            return np.bincount(b[mask], weights=w, minlength=bins).astype(float)

        return cls(
            below=tuple(int(c) for c in count(~up)),
            above=tuple(int(c) for c in count(up)),
            below_sum=tuple(float(s) for s in count(~up, p)),
            above_sum=tuple(float(s) for s in count(up, p)),
        )

    def cells(self) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.bool_]]:
        """Counts, mean probability and predicted class of each cell, in ascending score order."""
        mids = (np.arange(self.bins) + 0.5) / self.bins
        # Within a bin the predicted-0 rows score below the predicted-1 rows, so they come first.
        counts = np.column_stack([self.below, self.above]).astype(float).ravel()
        if self.below_sum is None or self.above_sum is None:
            means = np.repeat(mids, 2)
        else:
            sums = np.column_stack([self.below_sum, self.above_sum]).ravel()
            with np.errstate(divide="ignore", invalid="ignore"):
                means = np.where(counts > 0, sums / np.where(counts > 0, counts, 1), np.repeat(mids, 2))
        predicted = np.tile([False, True], self.bins)
        return counts, means, predicted


@dataclass(frozen=True)
class Calibrator:
    """The reference's isotonic map from the model's probability to the observed positive rate."""

    x: tuple[float, ...]  # knots of the piecewise-linear map (IsotonicRegression's thresholds)
    y: tuple[float, ...]

    def __call__(self, probabilities: ArrayLike) -> NDArray[np.float64]:
        # IsotonicRegression.predict(out_of_bounds="clip") interpolates linearly between its knots.
        return np.interp(np.asarray(probabilities, dtype=float), self.x, self.y)

    def to_dict(self) -> dict[str, list[float]]:
        """JSON-ready, to store beside the reference spec."""
        return {"x": list(self.x), "y": list(self.y)}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibrator:
        return cls(tuple(float(v) for v in data["x"]), tuple(float(v) for v in data["y"]))


def _fit(x: NDArray[np.float64], y: NDArray[np.float64], weight: NDArray[np.float64] | None) -> Calibrator:
    if x.size == 0 or np.unique(y).size < 2:
        raise InsufficientData("calibration needs a labelled reference with both classes")
    # Imported on first use: the fit is made once per reference, so a cached run never loads scikit-learn.
    from sklearn.isotonic import IsotonicRegression

    iso = IsotonicRegression(y_min=0.0, y_max=1.0, increasing=True, out_of_bounds="clip")
    iso.fit(x, y, sample_weight=weight)
    return Calibrator(tuple(float(v) for v in iso.X_thresholds_), tuple(float(v) for v in iso.y_thresholds_))


def fit_calibrator(probabilities: ArrayLike, labels: ArrayLike) -> Calibrator:
    """Calibrate on the labelled reference's rows (probability of class 1, label 0/1)."""
    return _fit(np.asarray(probabilities, dtype=float), np.asarray(labels, dtype=float), None)


def fit_calibrator_from_counts(counts: LabelledCounts) -> Calibrator:
    """Calibrate on the reference's binned counts (scores at bin midpoints), for references too big to load."""
    pos, neg = np.asarray(counts.positives, dtype=float), np.asarray(counts.negatives, dtype=float)
    mids = (np.arange(pos.size) + 0.5) / pos.size
    keep_pos, keep_neg = pos > 0, neg > 0
    x = np.concatenate([mids[keep_pos], mids[keep_neg]])
    y = np.concatenate([np.ones(keep_pos.sum()), np.zeros(keep_neg.sum())])
    return _fit(x, y, np.concatenate([pos[keep_pos], neg[keep_neg]]))


@dataclass(frozen=True)
class EstimatedPerformance:
    """Estimated performance of one window: the run summary's ``estimated_performance`` key."""

    rows: int
    metrics: dict[str, MetricValue]
    key_class: int
    confidence: float

    def to_summary(self) -> dict[str, Any]:
        """The JSON shape stored under the run summary key ``estimated_performance``."""
        return {
            "method": "cbpe",
            "assumes": ASSUMPTION,
            "rows": self.rows,
            "key_class": self.key_class,
            "confidence": self.confidence,
            "metrics": {name: m.to_dict() for name, m in self.metrics.items()},
        }


def _metrics(
    counts: NDArray[np.float64], positives: NDArray[np.float64], predicted: NDArray[np.bool_]
) -> dict[str, NDArray[np.float64]]:
    """Confusion metrics and ROC AUC from (possibly fractional) positives per cell, over the last axis."""
    negatives = counts - positives
    tp, fn = positives[..., predicted].sum(-1), positives[..., ~predicted].sum(-1)
    fp, tn = negatives[..., predicted].sum(-1), negatives[..., ~predicted].sum(-1)
    out = count_metrics(tp, fp, tn, fn)
    out["roc_auc"] = roc_auc_from_histograms(positives, negatives)
    return out


def estimate(
    histogram: ScoreHistogram,
    calibrator: Calibrator,
    policy: PerformancePolicy,
    reference: PerformanceResult | Mapping[str, float | None] | None = None,
) -> EstimatedPerformance:
    """Estimate a window's performance from its probabilities alone.

    The value is the metric of the expected confusion matrix (NannyML's CBPE). The interval is where
    the realized metric falls if each row's label is drawn from its calibrated probability: a
    seeded simulation of the labels, so it covers label noise, not calibration error or concept drift.
    """
    counts, means, predicted = histogram.cells()
    calibrated = calibrator(means)
    refs = reference_values(reference)
    if histogram.rows == 0:
        empty = {k: MetricValue(None, None, refs.get(k), "not_yet_known") for k in ESTIMATED}
        return EstimatedPerformance(0, empty, policy.key_class, policy.confidence)

    expected = _metrics(counts, counts * calibrated, predicted)
    occupied = counts > 0
    rng = np.random.default_rng(policy.seed)
    draws = np.zeros((policy.resamples, counts.size))
    draws[:, occupied] = rng.binomial(counts[occupied].astype(np.int64), calibrated[occupied],
                                      size=(policy.resamples, int(occupied.sum())))
    simulated = _metrics(counts, draws, predicted)

    raw = {}
    for name in ESTIMATED:
        value = float(expected[name])
        value_or_none = value if np.isfinite(value) else None
        interval = percentile_interval(simulated[name], policy.confidence) if value_or_none is not None else None
        raw[name] = MetricValue(value_or_none, interval)
    metrics = decide(raw, reference_metrics(reference), policy)
    return EstimatedPerformance(histogram.rows, metrics, policy.key_class, policy.confidence)
