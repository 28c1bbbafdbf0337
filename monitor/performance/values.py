"""The vocabulary of performance: metric directions, one metric's value and verdict, and the policy."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from scipy.stats import norm

from monitor.config import defaults
from monitor.config.common import IMPORTANT

Verdict = Literal["not_yet_known", "no_reference", "ok", "drop", "changed"]
Status = Literal["not_yet_known", "provisional", "final"]
Interval = tuple[float, float]

# +1: higher is better, -1: lower is better, 0: no good direction (a move either way is "changed").
DIRECTION: dict[str, int] = {
    "accuracy": 1,
    "balanced_accuracy": 1,
    "precision_0": 1,
    "recall_0": 1,
    "f1_0": 1,
    "precision_1": 1,
    "recall_1": 1,
    "f1_1": 1,
    "roc_auc": 1,
    "pr_auc_0": 1,
    "pr_auc_1": 1,
    "brier": -1,
    "predicted_positive_rate": 0,
    "base_rate": 0,
}
# Metrics that need no labels, so coverage does not gate their verdict.
LABEL_FREE = frozenset({"predicted_positive_rate"})


@dataclass(frozen=True)
class PerformancePolicy:
    """How intervals and verdicts are decided; the pipeline fills it from the config's `performance:`."""

    key_class: int = 0  # the class that matters (wheel assembly: 0, the defects)
    confidence: float = defaults.CONFIDENCE
    min_coverage: float = defaults.MIN_COVERAGE  # below this share of labels a window is "not yet known"
    min_labelled: int = defaults.MIN_LABELLED  # ... and below this many labels too
    complete_coverage: float = defaults.COMPLETE_COVERAGE  # at or above this share the value is final
    tolerance: float = defaults.TOLERANCE  # the practical floor of a metric `floors` does not name
    resamples: int = defaults.RESAMPLES  # bootstrap replicates
    seed: int = 0
    # Per metric, the practical floor of a drop; "recall_important" is the key class's recall.
    floors: Mapping[str, float] = field(default_factory=lambda: dict(defaults.FLOORS))
    fdr: float = defaults.FDR  # Benjamini-Hochberg level over one window's metrics

    def floor(self, metric: str) -> float:
        """The practical floor of one metric: by its name, then by its important-class alias."""
        if metric in self.floors:
            return self.floors[metric]
        suffix = f"_{self.key_class}"
        if metric.endswith(suffix) and metric[: -len(suffix)] + IMPORTANT in self.floors:
            return self.floors[metric[: -len(suffix)] + IMPORTANT]
        return self.tolerance


@dataclass(frozen=True)
class MetricValue:
    """One metric of one window: value, confidence interval, reference value and verdict."""

    value: float | None
    interval: Interval | None
    reference: float | None = None
    verdict: Verdict = "not_yet_known"
    p_value: float | None = None  # of "worse than the reference by more than the floor"
    floor: float | None = None  # the practical floor the verdict used

    def to_dict(self) -> dict[str, Any]:
        return {
            "value": self.value,
            "interval": list(self.interval) if self.interval else None,
            "reference": self.reference,
            "verdict": self.verdict,
            "p_value": self.p_value,
            "floor": self.floor,
        }


def z_value(confidence: float) -> float:
    """The two-sided normal quantile for a confidence level."""
    return float(norm.ppf(0.5 + confidence / 2))


