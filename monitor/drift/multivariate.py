"""Multivariate drift: can a classifier tell window rows from reference rows?

It catches changes in the joint distribution (a correlation between two signals) that no
single feature's histogram shows. On bounded, balanced samples of both sides a seeded
gradient-boosted tree model is cross-validated; its out-of-fold AUC is 0.5 when the two
are indistinguishable. As for single features, the verdict is a test against a practical
floor (H0: AUC <= floor), with the AUC's standard error from Hanley & McNeil (1982), and
the p-value can join the run's Benjamini-Hochberg family (``as_test``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy import stats as sps

from monitor.config import defaults
from monitor.drift.decision import DEFAULT_FDR, DEFAULT_MIN_ROWS, PrecomputedTest

# An AUC of 0.55 means a random window row outranks a random reference row 55% of the
# time: small but real. Cross-validated AUC under no change sits at or just below 0.5.
DEFAULT_AUC_FLOOR = defaults.AUC_FLOOR
DEFAULT_MAX_ROWS = 5_000  # per side: the AUC's standard error is ~0.006 there, cost ~0.3 s
_MAX_CATEGORIES = 250  # HistGradientBoosting's native categorical limit is 255 codes


@dataclass(frozen=True)
class MultivariateResult:
    """The domain classifier's AUC, its 95% interval and the verdict against the floor."""

    auc: float | None
    ci_low: float | None
    ci_high: float | None
    se: float | None
    p_value: float | None  # against "AUC <= floor"
    floor: float
    threshold: float  # the AUC above which this test alone would flag, at level alpha
    drifted: bool
    status: str  # ok | drift | insufficient_data
    n_reference: int
    n_window: int

    def as_test(self, name: str = "multivariate") -> PrecomputedTest:
        """This result as a member of the run's BH family (monitor.drift.decision.decide)."""
        return PrecomputedTest(
            name=name, kind="multivariate", statistic="domain_classifier_auc",
            value=self.auc, p_value=self.p_value, threshold=self.threshold, floor=self.floor,
        )


def hanley_mcneil_se(auc: float, n_pos: int, n_neg: int) -> float:
    """Standard error of an AUC from n_pos positives and n_neg negatives (Hanley & McNeil 1982)."""
    q1 = auc / (2.0 - auc)
    q2 = 2.0 * auc * auc / (1.0 + auc)
    var = (auc * (1 - auc) + (n_pos - 1) * (q1 - auc**2) + (n_neg - 1) * (q2 - auc**2)) / (n_pos * n_neg)
    return float(np.sqrt(max(var, 1e-12)))


def _encode(reference: pd.DataFrame, window: pd.DataFrame, features: Sequence[str]) -> tuple[np.ndarray, list[bool]]:
    """Both samples as one float matrix; non-numeric columns become category codes."""
    columns: list[np.ndarray] = []
    is_cat: list[bool] = []
    for name in features:
        both = pd.concat([reference[name], window[name]], ignore_index=True)
        if pd.api.types.is_numeric_dtype(both) and not pd.api.types.is_bool_dtype(both):
            values = both.to_numpy(dtype=float, na_value=np.nan)
            columns.append(np.where(np.isfinite(values), values, np.nan))
            is_cat.append(False)
            continue
        strings = both.astype(object).where(both.notna(), None)
        strings = strings.map(lambda v: None if v is None else str(v))
        # most frequent first, so the rarest fold into the last code past the native limit
        order = strings.value_counts().index
        codes = pd.Series(strings).map({k: min(i, _MAX_CATEGORIES) for i, k in enumerate(order)})
        columns.append(codes.to_numpy(dtype=float, na_value=np.nan))
        is_cat.append(True)
    return np.column_stack(columns), is_cat


def _sample(frame: pd.DataFrame, n: int, rng: np.random.Generator) -> pd.DataFrame:
    if len(frame) <= n:
        return frame
    return frame.iloc[np.sort(rng.choice(len(frame), size=n, replace=False))]


def domain_classifier(
    reference: pd.DataFrame,
    window: pd.DataFrame,
    features: Sequence[str],
    *,
    floor: float = DEFAULT_AUC_FLOOR,
    seed: int = 0,
    alpha: float = DEFAULT_FDR,
    max_rows: int = DEFAULT_MAX_ROWS,
    folds: int = 5,
    min_rows: int = DEFAULT_MIN_ROWS,
) -> MultivariateResult:
    """Cross-validated AUC of a classifier telling window rows from reference rows, and its verdict."""
    # scikit-learn is imported here, on first use: a run without the classifier, and the CLI, start without it.
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score
    from sklearn.model_selection import StratifiedKFold
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng([seed & 0xFFFFFFFF, len(window), len(reference)])
    n = min(len(reference), len(window), max_rows)
    if n < min_rows:
        return MultivariateResult(None, None, None, None, None, floor, floor, False, "insufficient_data", n, n)
    ref = _sample(reference, n, rng)
    win = _sample(window, n, rng)
    x, is_cat = _encode(ref, win, features)
    y = np.r_[np.zeros(len(ref)), np.ones(len(win))]
    oof = np.empty(len(y))
    aucs = []
    splitter = StratifiedKFold(n_splits=folds, shuffle=True, random_state=int(rng.integers(2**31)))
    # one OpenMP thread: on a shared 2-core host, spinning thread teams slow a 0.3 s fit 100-fold
    with threadpool_limits(limits=1, user_api="openmp"):
        for train, test in splitter.split(x, y):
            model = HistGradientBoostingClassifier(
                max_iter=100, max_depth=3, learning_rate=0.1, early_stopping=False,
                categorical_features=np.asarray(is_cat) if any(is_cat) else None,
                random_state=int(rng.integers(2**31)),
            )
            model.fit(x[train], y[train])
            oof[test] = model.predict_proba(x[test])[:, 1]
            aucs.append(roc_auc_score(y[test], oof[test]))
    # the mean of per-fold AUCs (each fold's model ranks its own held-out rows)
    auc = float(np.mean(aucs))
    se = hanley_mcneil_se(auc, len(win), len(ref))
    p = float(sps.norm.sf((auc - floor) / se))
    threshold = floor + float(sps.norm.isf(alpha)) * hanley_mcneil_se(floor, len(win), len(ref))
    drifted = p <= alpha
    return MultivariateResult(
        auc=auc, ci_low=auc - 1.96 * se, ci_high=auc + 1.96 * se, se=se, p_value=p, floor=floor,
        threshold=threshold, drifted=drifted, status="drift" if drifted else "ok",
        n_reference=len(ref), n_window=len(win),
    )
