"""Tests of CBPE: the calibrator against scikit-learn, the expected confusion matrix, interval coverage."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.isotonic import IsotonicRegression
from sklearn.metrics import accuracy_score, f1_score, recall_score, roc_auc_score

from monitor.errors import InsufficientData, StoreError
from monitor.performance.estimated import (
    ESTIMATED,
    Calibrator,
    ScoreHistogram,
    estimate,
    fit_calibrator,
    fit_calibrator_from_counts,
)
from monitor.performance.realized import LabelledCounts, PerformancePolicy, reference_performance

THRESHOLD = 0.5


def scores(rng: np.random.Generator, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    """The model's probability of label 1 and the true one: monotone in each other, not equal."""
    x = rng.normal(shift, 1.0, n)
    model = 1 / (1 + np.exp(-(1.5 + 1.2 * x)))
    truth = 1 / (1 + np.exp(-(1.8 + 2.0 * x)))  # the model is under-confident
    return model, truth


def draw(seed: int, n: int, shift: float = 0.0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    p, truth = scores(rng, n, shift)
    return p, (rng.random(n) < truth).astype(int)


@pytest.fixture(scope="module")
def reference_rows() -> tuple[np.ndarray, np.ndarray]:
    return draw(1234, 20_000)


@pytest.fixture(scope="module")
def calibrator(reference_rows: tuple[np.ndarray, np.ndarray]) -> Calibrator:
    return fit_calibrator(*reference_rows)


def test_calibrator_equals_isotonic_regression_predict(reference_rows, calibrator) -> None:
    p, y = reference_rows
    iso = IsotonicRegression(y_min=0, y_max=1, out_of_bounds="clip").fit(p, y)
    grid = np.concatenate([np.linspace(-0.1, 1.1, 1001), p[:500]])
    np.testing.assert_allclose(calibrator(grid), iso.predict(grid), atol=1e-12)
    assert Calibrator.from_dict(json.loads(json.dumps(calibrator.to_dict()))) == calibrator


def test_calibrator_from_binned_counts_is_close_to_the_row_fit(reference_rows, calibrator) -> None:
    p, y = reference_rows
    binned = fit_calibrator_from_counts(LabelledCounts.from_rows(p, y, THRESHOLD, 200))
    # Isotonic steps move a little with binning; over the reference's scores the maps agree.
    assert np.mean(np.abs(binned(p) - calibrator(p))) < 0.01
    assert np.max(np.abs(binned(p) - calibrator(p))) < 0.1


def test_calibration_needs_both_classes() -> None:
    with pytest.raises(InsufficientData, match="both classes"):
        fit_calibrator([0.2, 0.7, 0.9], [1, 1, 1])


def test_histogram_parts_must_agree() -> None:
    with pytest.raises(StoreError, match="same"):
        ScoreHistogram(below=(1, 2), above=(1, 2, 3))


def test_expected_confusion_matrix_is_the_sum_of_calibrated_probabilities() -> None:
    # Every score at a bin midpoint, so a cell's mean is each row's score: a row-level known answer.
    rng = np.random.default_rng(4)
    bins = 20
    p = (rng.integers(0, bins, 3000) + 0.5) / bins
    cal = Calibrator((0.0, 0.3, 0.6, 1.0), (0.05, 0.2, 0.85, 0.97))
    c = cal(p)
    pred = p >= THRESHOLD
    tp, fp = c[pred].sum(), (1 - c[pred]).sum()
    tn, fn = (1 - c[~pred]).sum(), c[~pred].sum()
    result = estimate(ScoreHistogram.from_probabilities(p, THRESHOLD, bins), cal, PerformancePolicy(resamples=50))
    m = {k: v.value for k, v in result.metrics.items()}
    assert m["accuracy"] == pytest.approx((tp + tn) / len(p), abs=1e-12)
    assert m["recall_0"] == pytest.approx(tn / (tn + fp), abs=1e-12)
    assert m["precision_0"] == pytest.approx(tn / (tn + fn), abs=1e-12)
    assert m["f1_0"] == pytest.approx(2 * tn / (2 * tn + fn + fp), abs=1e-12)
    assert m["recall_1"] == pytest.approx(tp / (tp + fn), abs=1e-12)
    # ROC AUC of the calibrated probabilities as soft labels, pairs of tied scores counting 1/2.
    pos_w, neg_w = c, 1 - c
    wins = np.sum(pos_w[:, None] * neg_w[None, :] * ((p[:, None] > p[None, :]) + 0.5 * (p[:, None] == p[None, :])))
    assert m["roc_auc"] == pytest.approx(wins / (pos_w.sum() * neg_w.sum()), abs=1e-9)


def test_without_sums_cells_are_calibrated_at_bin_midpoints() -> None:
    cal = Calibrator((0.0, 1.0), (0.0, 1.0))
    hist = ScoreHistogram(below=(10, 0), above=(0, 30))
    m = estimate(hist, cal, PerformancePolicy(resamples=50)).metrics
    # Bin midpoints 0.25 and 0.75: expected tn = 7.5, fn = 2.5, tp = 22.5, fp = 7.5.
    assert m["accuracy"].value == pytest.approx(30 / 40)
    assert m["recall_0"].value == pytest.approx(7.5 / 15)


def realized(p: np.ndarray, y: np.ndarray) -> dict[str, float]:
    pred = (p >= THRESHOLD).astype(int)
    return {
        "accuracy": accuracy_score(y, pred),
        "recall_0": recall_score(y, pred, pos_label=0),
        "f1_0": f1_score(y, pred, pos_label=0),
        "roc_auc": roc_auc_score(y, p),
    }


@pytest.mark.parametrize("shift", [0.0, -0.8])
def test_realized_falls_in_the_interval_when_labels_follow_the_calibrated_probabilities(calibrator, shift) -> None:
    hits = dict.fromkeys(("accuracy", "recall_0", "f1_0", "roc_auc"), 0)
    seeds = range(20)
    for seed in seeds:
        rng = np.random.default_rng(seed)
        p, _ = scores(rng, 2000, shift)
        y = (rng.random(len(p)) < calibrator(p)).astype(int)
        est = estimate(ScoreHistogram.from_probabilities(p, THRESHOLD), calibrator,
                       PerformancePolicy(resamples=300, seed=seed))
        for name, value in realized(p, y).items():
            lo, hi = est.metrics[name].interval  # type: ignore[misc]
            hits[name] += lo <= value <= hi
    assert all(h >= 16 for h in hits.values()), hits  # 80%+ of 20 (expected about 19)


def test_covariate_shift_is_followed_with_a_reference_fit(calibrator) -> None:
    # Labels from the true process, not the calibrator: calibration error is in play too.
    hits, errors, naive = 0, [], []
    ref = realized(*draw(1234, 20_000))
    for seed in range(20):
        p, y = draw(100 + seed, 2000, shift=-1.0)
        est = estimate(ScoreHistogram.from_probabilities(p, THRESHOLD), calibrator,
                       PerformancePolicy(resamples=300, seed=seed))
        truth = realized(p, y)["recall_0"]
        lo, hi = est.metrics["recall_0"].interval  # type: ignore[misc]
        hits += lo <= truth <= hi
        errors.append(abs(est.metrics["recall_0"].value - truth))  # type: ignore[operator]
        naive.append(abs(ref["recall_0"] - truth))
    assert hits >= 15
    assert np.mean(errors) < 0.25 * np.mean(naive)


def test_concept_drift_is_missed_as_documented(calibrator) -> None:
    # Same scores, but defects no longer follow them: the estimate cannot see it.
    rng = np.random.default_rng(8)
    p, truth = scores(rng, 4000)
    y = (rng.random(len(p)) < 0.5 * truth + 0.2).astype(int)
    est = estimate(ScoreHistogram.from_probabilities(p, THRESHOLD), calibrator, PerformancePolicy(resamples=300))
    lo, hi = est.metrics["recall_0"].interval  # type: ignore[misc]
    assert not lo <= realized(p, y)["recall_0"] <= hi
    assert "no concept drift" in est.to_summary()["assumes"]


def test_estimate_is_judged_against_the_reference(reference_rows, calibrator) -> None:
    policy = PerformancePolicy(resamples=300)
    ref = reference_performance(LabelledCounts.from_rows(*reference_rows, THRESHOLD, 200), policy)
    same = estimate(ScoreHistogram.from_probabilities(draw(5, 3000)[0], THRESHOLD), calibrator, policy, ref)
    assert same.metrics["accuracy"].verdict == "ok"
    assert same.metrics["roc_auc"].reference == ref.metrics["roc_auc"].value
    # Scores pushed towards the threshold: fewer confident calls, lower expected accuracy.
    harder = estimate(ScoreHistogram.from_probabilities(draw(6, 3000, shift=-1.2)[0], THRESHOLD),
                      calibrator, policy, ref)
    assert harder.metrics["accuracy"].verdict == "drop"


def test_summary_shape_and_empty_window(calibrator) -> None:
    policy = PerformancePolicy(resamples=100)
    summary = estimate(ScoreHistogram.from_probabilities(draw(3, 500)[0], THRESHOLD), calibrator, policy).to_summary()
    decoded = json.loads(json.dumps(summary))
    assert decoded["method"] == "cbpe" and decoded["rows"] == 500
    assert list(decoded["metrics"]) == list(ESTIMATED)
    for m in decoded["metrics"].values():
        assert m["interval"][0] <= m["value"] <= m["interval"][1]
        assert m["verdict"] == "no_reference"
    empty = estimate(ScoreHistogram(below=(0,) * 5, above=(0,) * 5), calibrator, policy, {"accuracy": 0.8})
    assert empty.rows == 0
    assert all(m.value is None and m.verdict == "not_yet_known" for m in empty.metrics.values())
    assert empty.metrics["accuracy"].reference == 0.8
