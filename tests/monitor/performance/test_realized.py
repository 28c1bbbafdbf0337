"""Known-answer tests of realized performance: every metric and interval against scikit-learn or scipy."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from scipy.stats import binomtest, norm
from sklearn.metrics import (
    accuracy_score,
    average_precision_score,
    balanced_accuracy_score,
    brier_score_loss,
    confusion_matrix,
    f1_score,
    precision_recall_fscore_support,
    roc_auc_score,
)

from monitor.errors import StoreError
from monitor.performance.realized import (
    DIRECTION,
    LabelledCounts,
    PerformancePolicy,
    bin_of,
    delong_interval,
    evaluate,
    judge,
    label_status,
    measure,
    reference_performance,
    wilson,
)

THRESHOLD = 0.5
BINS = 200


def sample(seed: int, n: int = 2000, defect_rate: float = 0.18, separation: float = 1.5):
    """Seeded rows: label 1 = correct part, 0 = defect; p = the model's probability of label 1."""
    rng = np.random.default_rng(seed)
    y = (rng.random(n) >= defect_rate).astype(int)
    logit = rng.normal(separation * (2 * y - 1), 1.5)
    return 1 / (1 + np.exp(-logit)), y


@pytest.mark.parametrize("k,n,conf", [(81, 263, 0.95), (0, 10, 0.95), (10, 10, 0.9), (37, 1000, 0.99), (1, 2, 0.8)])
def test_wilson_matches_scipy(k: int, n: int, conf: float) -> None:
    ci = binomtest(k, n).proportion_ci(confidence_level=conf, method="wilson")
    lo, hi = wilson(k, n, conf)  # type: ignore[misc]
    assert lo == pytest.approx(ci.low, abs=1e-12)
    assert hi == pytest.approx(ci.high, abs=1e-12)


def test_wilson_worked_example_and_empty() -> None:
    # Newcombe (1998), example 81/263: Wilson 0.2553 to 0.3662.
    lo, hi = wilson(81, 263)  # type: ignore[misc]
    assert (round(lo, 4), round(hi, 4)) == (0.2553, 0.3662)
    assert wilson(0, 0) is None


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_confusion_counts_equal_sklearn(seed: int) -> None:
    p, y = sample(seed)
    c = LabelledCounts.from_rows(p, y, THRESHOLD, BINS)
    tn, fp, fn, tp = confusion_matrix(y, (p >= THRESHOLD).astype(int), labels=[0, 1]).ravel()
    assert (c.tn, c.fp, c.fn, c.tp) == (tn, fp, fn, tp)
    assert c.labelled == c.predictions == len(y)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_count_metrics_equal_sklearn(seed: int) -> None:
    p, y = sample(seed)
    pred = (p >= THRESHOLD).astype(int)
    m = measure(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), PerformancePolicy())
    precision, recall, f1, _ = precision_recall_fscore_support(y, pred, labels=[0, 1])
    assert m["accuracy"].value == pytest.approx(accuracy_score(y, pred), abs=1e-12)
    assert m["balanced_accuracy"].value == pytest.approx(balanced_accuracy_score(y, pred), abs=1e-12)
    for cls in (0, 1):
        assert m[f"precision_{cls}"].value == pytest.approx(precision[cls], abs=1e-12)
        assert m[f"recall_{cls}"].value == pytest.approx(recall[cls], abs=1e-12)
        assert m[f"f1_{cls}"].value == pytest.approx(f1[cls], abs=1e-12)
    assert m["brier"].value == pytest.approx(brier_score_loss(y, p), abs=1e-12)
    assert m["base_rate"].value == pytest.approx(y.mean(), abs=1e-12)
    assert m["predicted_positive_rate"].value == pytest.approx(pred.mean(), abs=1e-12)


def test_proportion_intervals_are_wilson_on_the_right_counts() -> None:
    p, y = sample(7)
    pred = (p >= THRESHOLD).astype(int)
    m = measure(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), PerformancePolicy(confidence=0.9))
    expected = {
        "accuracy": (np.sum(pred == y), len(y)),
        "recall_0": (np.sum((pred == 0) & (y == 0)), np.sum(y == 0)),
        "precision_0": (np.sum((pred == 0) & (y == 0)), np.sum(pred == 0)),
        "recall_1": (np.sum((pred == 1) & (y == 1)), np.sum(y == 1)),
        "precision_1": (np.sum((pred == 1) & (y == 1)), np.sum(pred == 1)),
        "base_rate": (np.sum(y == 1), len(y)),
        "predicted_positive_rate": (np.sum(pred == 1), len(y)),
    }
    for name, (k, n) in expected.items():
        ci = binomtest(int(k), int(n)).proportion_ci(confidence_level=0.9, method="wilson")
        assert m[name].interval == pytest.approx((ci.low, ci.high), abs=1e-12), name


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_auc_from_histograms_equals_sklearn_on_binned_scores(seed: int) -> None:
    p, y = sample(seed)
    m = measure(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), PerformancePolicy())
    binned = bin_of(p, BINS)
    # Scores sharing a bin are ties; sklearn on the bin index is the exact answer.
    assert m["roc_auc"].value == pytest.approx(roc_auc_score(y, binned), abs=1e-12)
    assert m["pr_auc_1"].value == pytest.approx(average_precision_score(y, binned), abs=1e-12)
    assert m["pr_auc_0"].value == pytest.approx(average_precision_score(1 - y, -binned), abs=1e-12)
    # And 200 bins lose little against the raw scores.
    assert m["roc_auc"].value == pytest.approx(roc_auc_score(y, p), abs=2e-3)
    assert m["pr_auc_0"].value == pytest.approx(average_precision_score(1 - y, 1 - p), abs=5e-3)


def test_auc_with_few_bins_handles_ties_like_sklearn() -> None:
    p, y = sample(11, n=500)
    c = LabelledCounts.from_rows(p, y, THRESHOLD, bins=5)
    m = measure(c, PerformancePolicy())
    assert m["roc_auc"].value == pytest.approx(roc_auc_score(y, bin_of(p, 5)), abs=1e-12)
    assert m["pr_auc_1"].value == pytest.approx(average_precision_score(y, bin_of(p, 5)), abs=1e-12)


def rowwise_delong(scores: np.ndarray, y: np.ndarray, confidence: float) -> tuple[float, float]:
    """DeLong (1988) straight from its definition, one pair at a time: the slow reference."""
    pos, neg = scores[y == 1], scores[y == 0]
    kernel = (pos[:, None] > neg[None, :]) + 0.5 * (pos[:, None] == neg[None, :])
    auc = kernel.mean()
    v10, v01 = kernel.mean(axis=1), kernel.mean(axis=0)
    var = v10.var(ddof=1) / len(pos) + v01.var(ddof=1) / len(neg)
    half = norm.ppf(0.5 + confidence / 2) * math.sqrt(var)
    return auc - half, auc + half


def test_delong_interval_equals_rowwise_definition() -> None:
    p, y = sample(5, n=800, separation=0.6)
    c = LabelledCounts.from_rows(p, y, THRESHOLD, 50)
    got = delong_interval(c.positives, c.negatives, 0.95)
    assert got == pytest.approx(rowwise_delong(bin_of(p, 50).astype(float), y, 0.95), abs=1e-12)
    assert delong_interval((1, 0), (5, 5), 0.95) is None


def test_brier_interval_is_the_normal_interval_of_the_squared_errors() -> None:
    p, y = sample(3)
    m = measure(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), PerformancePolicy())
    err = (p - y) ** 2
    half = norm.ppf(0.975) * err.std(ddof=1) / math.sqrt(len(err))
    assert m["brier"].interval == pytest.approx((err.mean() - half, err.mean() + half), abs=1e-9)


def test_bootstrap_intervals_are_seeded_and_match_a_row_bootstrap() -> None:
    p, y = sample(9, n=1500)
    c = LabelledCounts.from_rows(p, y, THRESHOLD, BINS)
    policy = PerformancePolicy(resamples=400, seed=3)
    first, again = measure(c, policy), measure(c, policy)
    assert {k: v.interval for k, v in first.items()} == {k: v.interval for k, v in again.items()}

    rng = np.random.default_rng(0)
    pred = (p >= THRESHOLD).astype(int)
    rows = [rng.integers(0, len(y), len(y)) for _ in range(400)]
    reference = {
        "f1_0": [f1_score(y[i], pred[i], pos_label=0) for i in rows],
        "balanced_accuracy": [balanced_accuracy_score(y[i], pred[i]) for i in rows],
        "pr_auc_0": [average_precision_score(1 - y[i], -bin_of(p[i], BINS)) for i in rows],
    }
    for name, reps in reference.items():
        lo, hi = first[name].interval  # type: ignore[misc]
        ref_lo, ref_hi = np.quantile(reps, [0.025, 0.975])
        assert lo < first[name].value < hi  # type: ignore[operator]
        # Two seeded bootstraps of the same rows: same interval up to Monte Carlo noise.
        assert hi - lo == pytest.approx(ref_hi - ref_lo, rel=0.2), name
        assert (lo + hi) / 2 == pytest.approx((ref_lo + ref_hi) / 2, abs=0.25 * (ref_hi - ref_lo)), name


def test_intervals_cover_the_population_value() -> None:
    # Population accuracy and defect recall from one huge sample; 95% intervals over 60 windows.
    p_big, y_big = sample(1000, n=400_000)
    truth = measure(LabelledCounts.from_rows(p_big, y_big, THRESHOLD, BINS), PerformancePolicy(resamples=10))
    hits = {"accuracy": 0, "recall_0": 0, "roc_auc": 0, "f1_0": 0}
    for seed in range(60):
        p, y = sample(seed, n=600)
        m = measure(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), PerformancePolicy(resamples=300, seed=seed))
        for name in hits:
            lo, hi = m[name].interval  # type: ignore[misc]
            hits[name] += lo <= truth[name].value <= hi  # type: ignore[operator]
    assert all(h >= 51 for h in hits.values()), hits  # 85%+ of 60 (expected about 57)


def test_inconsistent_counts_are_a_store_error() -> None:
    with pytest.raises(StoreError, match="disagree"):
        LabelledCounts(10, 5, 3, 2, 3, 2, (1, 1), (2, 2), 1.0, 1.0)
    with pytest.raises(StoreError, match="same"):
        LabelledCounts(10, 5, 3, 2, 3, 2, (5,), (2, 3), 1.0, 1.0)
    with pytest.raises(StoreError, match="labelled"):
        LabelledCounts(3, 2, 3, 2, 3, 2, (3, 2), (2, 3), 1.0, 1.0)


@pytest.mark.parametrize(
    "value,interval,reference,direction,expected",
    [
        (0.70, (0.65, 0.75), 0.80, 1, "drop"),
        (0.78, (0.72, 0.84), 0.80, 1, "ok"),
        (0.90, (0.85, 0.95), 0.80, 1, "ok"),
        (0.20, (0.15, 0.25), 0.10, -1, "drop"),
        (0.05, (0.03, 0.07), 0.10, -1, "ok"),
        (0.30, (0.25, 0.35), 0.18, 0, "changed"),
        (0.20, (0.15, 0.25), 0.18, 0, "ok"),
        (0.70, (0.65, 0.75), None, 1, "no_reference"),
        (None, None, 0.80, 1, "not_yet_known"),
    ],
)
def test_judge(value, interval, reference, direction, expected) -> None:
    assert judge(value, interval, reference, direction) == expected


def test_tolerance_forgives_small_drops() -> None:
    assert judge(0.70, (0.65, 0.75), 0.80, 1, tolerance=0.06) == "ok"
    assert judge(0.70, (0.65, 0.75), 0.80, 1, tolerance=0.04) == "drop"


def labelled_share(p: np.ndarray, y: np.ndarray, share: float) -> np.ndarray:
    """Labels as they stand when only the first `share` of the window's rows are labelled."""
    known = y.astype(float)
    known[int(share * len(y)) :] = np.nan
    return known


def test_labels_arriving_over_three_days_go_from_unknown_to_provisional_to_final() -> None:
    policy = PerformancePolicy(resamples=200)
    ref = reference_performance(LabelledCounts.from_rows(*sample(100, n=5000), THRESHOLD, BINS), policy)
    p, y = sample(101, n=2000)
    seen = []
    for share in (0.03, 0.6, 1.0):
        result = evaluate(LabelledCounts.from_rows(p, labelled_share(p, y, share), THRESHOLD, BINS), policy, ref)
        seen.append((result.status, result.metrics["recall_0"].verdict))
        assert result.predictions == 2000
    assert seen == [("not_yet_known", "not_yet_known"), ("provisional", "ok"), ("final", "ok")]


def test_a_window_whose_labels_stop_arriving_becomes_final_when_settled() -> None:
    policy = PerformancePolicy()
    p, y = sample(5, n=1000)
    counts = LabelledCounts.from_rows(p, labelled_share(p, y, 0.8), THRESHOLD, BINS)
    assert label_status(counts, policy) == "provisional"
    assert label_status(counts, policy, settled=True) == "final"
    few = LabelledCounts.from_rows(p, labelled_share(p, y, 0.02), THRESHOLD, BINS)
    assert label_status(few, policy, settled=True) == "not_yet_known"  # 20 labels: still too few
    assert label_status(counts, PerformancePolicy(min_labelled=900)) == "not_yet_known"


def test_a_real_drop_in_defect_recall_is_caught_and_the_label_free_rate_is_judged_early() -> None:
    policy = PerformancePolicy(resamples=300)
    ref = reference_performance(LabelledCounts.from_rows(*sample(200, n=5000), THRESHOLD, BINS), policy)
    # The model now scores defects almost like good parts.
    p, y = sample(201, n=3000, separation=0.5)
    worse = evaluate(LabelledCounts.from_rows(p, y, THRESHOLD, BINS), policy, ref)
    assert worse.status == "final"
    for name in ("recall_0", "f1_0", "roc_auc", "balanced_accuracy", "pr_auc_0"):
        assert worse.metrics[name].verdict == "drop", name
    assert worse.metrics["brier"].verdict == "drop"
    early = evaluate(LabelledCounts.from_rows(p, labelled_share(p, y, 0.01), THRESHOLD, BINS), policy, ref)
    assert early.metrics["recall_0"].verdict == "not_yet_known"
    assert early.metrics["predicted_positive_rate"].verdict == "changed"


def test_summary_shape_is_json_with_every_metric() -> None:
    policy = PerformancePolicy(resamples=100)
    ref = reference_performance(LabelledCounts.from_rows(*sample(1), THRESHOLD, BINS), policy)
    p, y = sample(2)
    summary = evaluate(LabelledCounts.from_rows(p, labelled_share(p, y, 0.7), THRESHOLD, BINS), policy, ref).to_summary()
    decoded = json.loads(json.dumps(summary))
    assert decoded["status"] == "provisional"
    assert decoded["coverage"] == {"labelled": 1400, "predictions": 2000, "fraction": 0.7}
    assert decoded["key_class"] == 0
    assert set(decoded["metrics"]) == set(DIRECTION)
    for m in decoded["metrics"].values():
        assert set(m) == {"value", "interval", "reference", "verdict", "p_value", "floor"}
        assert m["interval"][0] <= m["value"] <= m["interval"][1]


def test_an_empty_window_is_not_yet_known_everywhere() -> None:
    empty = LabelledCounts(0, 0, 0, 0, 0, 0, (0,) * 10, (0,) * 10, 0.0, 0.0)
    result = evaluate(empty, PerformancePolicy(), {"accuracy": 0.9})
    assert result.status == "not_yet_known"
    assert result.coverage == 0.0
    assert all(m.value is None and m.verdict == "not_yet_known" for m in result.metrics.values())
