"""The performance decision: a drop beyond a floor, tested with both sampling errors, one BH family."""

from __future__ import annotations

import pytest
from scipy.stats import false_discovery_control, norm

from monitor.performance.decision import decide, drop_p_value, standard_error
from monitor.performance.realized import (
    LabelledCounts,
    MetricValue,
    PerformancePolicy,
    evaluate,
    reference_performance,
)
from tests.monitor.performance.test_realized import BINS, THRESHOLD, sample


def test_the_p_value_counts_both_sampling_errors_and_the_floor() -> None:
    # (0.60 - 0.50 - 0.02) / hypot(0.03, 0.04) = 1.6
    assert drop_p_value(0.50, 0.03, 0.60, 0.04, 1, 0.02) == pytest.approx(norm.sf(1.6), abs=1e-12)
    # Lower is better (Brier): a rise is the drop.
    assert drop_p_value(0.16, 0.03, 0.06, 0.04, -1, 0.02) == pytest.approx(norm.sf(1.6), abs=1e-12)
    # No good direction: either way, two-sided.
    assert drop_p_value(0.70, 0.03, 0.60, 0.04, 0, 0.02) == pytest.approx(2 * norm.sf(1.6), abs=1e-12)
    # Without any sampling error the floor alone decides.
    assert drop_p_value(0.57, 0.0, 0.60, 0.0, 1, 0.02) == 0.0
    assert drop_p_value(0.59, 0.0, 0.60, 0.0, 1, 0.02) == 1.0


def test_the_standard_error_is_read_off_the_interval() -> None:
    assert standard_error(MetricValue(0.5, (0.5 - 1.959964 * 0.03, 0.5 + 1.959964 * 0.03)), 0.95) == pytest.approx(0.03)
    assert standard_error(MetricValue(0.5, None), 0.95) == 0.0  # a bare reference value
    assert standard_error(MetricValue(None, None), 0.95) is None
    assert standard_error(None, 0.95) is None


def test_a_drop_smaller_than_its_floor_is_never_called_however_many_rows() -> None:
    policy = PerformancePolicy()
    tight = (0.5299, 0.5301)  # 0.03 below the reference, within recall's floor of 0.05
    out = decide({"recall_0": MetricValue(0.53, tight)}, {"recall_0": MetricValue(0.56, (0.5599, 0.5601))}, policy)
    assert out["recall_0"].verdict == "ok" and out["recall_0"].floor == 0.05
    out = decide({"accuracy": MetricValue(0.77, (0.7699, 0.7701))}, {"accuracy": MetricValue(0.80, None)}, policy)
    assert out["accuracy"].verdict == "drop" and out["accuracy"].floor == 0.02  # 0.03 is beyond accuracy's 0.02


def test_the_reference_sampling_error_can_make_a_drop_inconclusive() -> None:
    policy = PerformancePolicy()
    window = {"recall_0": MetricValue(0.40, (0.36, 0.44))}
    assert decide(window, {"recall_0": MetricValue(0.55, None)}, policy)["recall_0"].verdict == "drop"
    # The same point value from a 60-defect reference: its own error leaves the drop unproven.
    wide = {"recall_0": MetricValue(0.55, (0.42, 0.67))}
    decided = decide(window, wide, policy)["recall_0"]
    assert decided.verdict == "ok" and 0.01 < decided.p_value < 0.2  # type: ignore[operator]


def test_the_window_metrics_are_one_benjamini_hochberg_family() -> None:
    policy = PerformancePolicy(fdr=0.05)
    ref = {k: MetricValue(0.80, None) for k in ("accuracy", "roc_auc", "balanced_accuracy")}
    # Alone, accuracy's p-value (about 0.02) passes 0.05; beside two null metrics BH asks 0.05/3.
    window = {"accuracy": MetricValue(0.75, (0.75 - 1.96 * 0.0146, 0.75 + 1.96 * 0.0146)),
              "roc_auc": MetricValue(0.80, (0.78, 0.82)), "balanced_accuracy": MetricValue(0.80, (0.78, 0.82))}
    alone = decide({"accuracy": window["accuracy"]}, ref, policy)["accuracy"]
    together = decide(window, ref, policy)
    assert alone.verdict == "drop" and together["accuracy"].verdict == "ok"
    ps = [together[k].p_value for k in ("accuracy", "roc_auc", "balanced_accuracy")]
    adjusted = false_discovery_control(ps, method="bh")
    assert (adjusted > 0.05).all() and together["accuracy"].p_value == alone.p_value


def test_floors_are_per_metric_with_the_important_class_alias() -> None:
    policy = PerformancePolicy(key_class=1, floors={"recall_important": 0.1, "accuracy": 0.01}, tolerance=0.03)
    assert policy.floor("recall_1") == 0.1  # the important class's recall
    assert policy.floor("recall_0") == 0.03  # the other class: the tolerance
    assert policy.floor("accuracy") == 0.01
    assert PerformancePolicy().floor("recall_0") == 0.05 and PerformancePolicy().floor("f1_1") == 0.02


def test_a_real_drop_is_found_and_an_unchanged_window_is_not() -> None:
    policy = PerformancePolicy(resamples=300)
    ref = reference_performance(LabelledCounts.from_rows(*sample(300, n=5000), THRESHOLD, BINS), policy)
    same = evaluate(LabelledCounts.from_rows(*sample(301, n=2000), THRESHOLD, BINS), policy, ref)
    assert not [k for k, m in same.metrics.items() if m.verdict in ("drop", "changed")]
    worse = evaluate(LabelledCounts.from_rows(*sample(302, n=2000, separation=0.8), THRESHOLD, BINS), policy, ref)
    assert worse.metrics["recall_0"].verdict == "drop" and worse.metrics["recall_0"].p_value < 1e-4  # type: ignore[operator]
    assert worse.to_summary()["metrics"]["recall_0"]["floor"] == 0.05
