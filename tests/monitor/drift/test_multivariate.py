"""The domain classifier: joint changes caught, no change passed, small samples refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from monitor.drift.decision import decide
from monitor.drift.multivariate import domain_classifier, hanley_mcneil_se


def _frame(rng: np.random.Generator, n: int, rho: float) -> pd.DataFrame:
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    return pd.DataFrame({
        "a": z1,
        "b": rho * z1 + np.sqrt(1 - rho**2) * z2,
        "u": rng.random(n),
        "c": rng.choice(["p", "q", "r"], size=n),
    })


FEATURES = ["a", "b", "u", "c"]


def test_hanley_mcneil_known_value() -> None:
    # AUC 0.5, 100 + 100: var = (0.25 + 2 * 99 / 12) / 100**2
    assert hanley_mcneil_se(0.5, 100, 100) == pytest.approx(np.sqrt((0.25 + 16.5) / 1e4), rel=1e-12)


def test_a_correlation_change_with_equal_marginals_is_caught() -> None:
    rng = np.random.default_rng(0)
    result = domain_classifier(_frame(rng, 6_000, 0.5), _frame(rng, 3_000, 0.0), FEATURES, seed=1)
    assert result.status == "drift" and result.drifted
    assert result.auc is not None and result.ci_low is not None and result.ci_high is not None
    assert result.floor < result.threshold < result.ci_low < result.auc < result.ci_high


def test_no_change_is_not_flagged() -> None:
    rng = np.random.default_rng(1)
    result = domain_classifier(_frame(rng, 6_000, 0.5), _frame(rng, 3_000, 0.5), FEATURES, seed=1)
    assert result.status == "ok" and not result.drifted
    assert result.auc is not None and result.ci_low is not None
    assert result.ci_low < 0.5 + 0.01 and result.auc < result.floor


def test_the_same_samples_get_the_same_auc() -> None:
    rng = np.random.default_rng(2)
    ref, win = _frame(rng, 2_000, 0.5), _frame(rng, 1_000, 0.2)
    assert domain_classifier(ref, win, FEATURES, seed=4) == domain_classifier(ref, win, FEATURES, seed=4)


def test_samples_are_bounded_and_small_windows_insufficient() -> None:
    rng = np.random.default_rng(3)
    big = domain_classifier(_frame(rng, 4_000, 0.5), _frame(rng, 4_000, 0.5), FEATURES, max_rows=500)
    assert (big.n_reference, big.n_window) == (500, 500)
    small = domain_classifier(_frame(rng, 4_000, 0.5), _frame(rng, 40, 0.0), FEATURES)
    assert small.status == "insufficient_data" and small.p_value is None and not small.drifted


def test_missing_and_infinite_values_are_tolerated() -> None:
    rng = np.random.default_rng(4)
    ref, win = _frame(rng, 1_000, 0.5), _frame(rng, 1_000, 0.5)
    win.loc[::7, "a"] = np.inf
    win.loc[::5, "c"] = None
    result = domain_classifier(ref, win, FEATURES)
    assert result.auc is not None and 0.0 <= result.auc <= 1.0


def test_the_result_joins_the_runs_family() -> None:
    rng = np.random.default_rng(5)
    result = domain_classifier(_frame(rng, 6_000, 0.5), _frame(rng, 3_000, 0.0), FEATURES)
    (d,) = decide([result.as_test()])
    assert d.drifted and d.kind == "multivariate" and d.value == result.auc
