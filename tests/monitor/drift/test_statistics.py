"""Known-answer tests of the drift statistics against scipy on seeded data.

Tolerances for the binned statistics are bounds, not guesses:
* K-S: the binned statistic is the sup over the edges only, so it never exceeds the exact
  one, and falls short by at most the largest bin mass (both CDFs are monotone in a bin).
* Wasserstein: moving every value to its bin's point is a coupling, so by the triangle
  inequality |W_binned - W_exact| <= mean |x - point(x)| over each sample, summed.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats as sps
from scipy.spatial.distance import jensenshannon

from monitor.drift.statistics import (
    DEFAULT_STATISTIC,
    STATISTICS,
    bin_points,
    counts_of,
    geometry,
    get_statistic,
)
from monitor.errors import UnknownStatistic
from monitor.schema.profile import CategoricalProfile, NumericProfile, NumericSpec
from tests.oracle.profile_frame import build_specs, profile_frame


def _numeric(ref: np.ndarray, cur: np.ndarray, bins: int = 20) -> tuple[NumericSpec, NumericProfile, NumericProfile]:
    specs = build_specs(pd.DataFrame({"x": ref}), [("x", "numerical")], bins=bins)
    spec = specs["x"]
    assert isinstance(spec, NumericSpec)
    r = profile_frame(pd.DataFrame({"x": ref}), specs).features["x"]
    c = profile_frame(pd.DataFrame({"x": cur}), specs).features["x"]
    assert isinstance(r, NumericProfile) and isinstance(c, NumericProfile)
    return spec, r, c


@pytest.fixture(scope="module")
def shifted() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(42)
    return rng.normal(size=20_000), rng.normal(loc=0.3, scale=1.1, size=5_000)


def test_unknown_statistic_lists_the_registry() -> None:
    with pytest.raises(UnknownStatistic) as err:
        get_statistic("hellinger")
    assert str(sorted(STATISTICS)) in str(err.value)


def test_defaults_exist_and_support_their_kind() -> None:
    for kind, name in DEFAULT_STATISTIC.items():
        stat = get_statistic(name)
        assert kind in stat.kinds
        assert stat.default_threshold(kind) > 0  # type: ignore[arg-type]
    for stat in STATISTICS.values():
        assert set(stat.default_floor) == set(stat.kinds)


def test_jensenshannon_equals_scipy_base_2(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    spec, r, c = _numeric(*shifted)
    got = get_statistic("jensenshannon").compute(r, c, spec).value
    assert got == pytest.approx(jensenshannon(counts_of(r), counts_of(c), base=2), abs=1e-12)


def test_psi_worked_example() -> None:
    spec = NumericSpec(name="x", expr="x", edges=(0.0,), ref_min=-1.0, ref_max=1.0)
    ref = NumericProfile("x", 100, 0, 0, -1.0, 1.0, 0.0, 1.0, (50, 50), 0, 0)
    cur = NumericProfile("x", 100, 0, 0, -1.0, 1.0, 0.0, 1.0, (25, 75), 0, 0)
    # (0.25 - 0.5) ln(0.25/0.5) + (0.75 - 0.5) ln(0.75/0.5) = 0.25 ln 3
    assert get_statistic("psi").compute(ref, cur, spec).value == pytest.approx(0.25 * np.log(3.0), abs=1e-12)


def test_ks_equals_scipy_when_every_gap_has_an_edge() -> None:
    rng = np.random.default_rng(7)
    ref = rng.integers(0, 10, size=30_000).astype(float)
    cur = rng.choice(10, size=4_000, p=np.r_[np.full(5, 0.08), np.full(5, 0.12)]).astype(float)
    spec, r, c = _numeric(ref, cur, bins=40)
    # integer data: an edge inside every gap [k, k+1) makes the binned CDF the exact one
    assert all(any(k <= e < k + 1 for e in spec.edges) for k in range(9))
    got = get_statistic("ks").compute(r, c, spec)
    want = sps.ks_2samp(ref, cur, method="asymp")
    assert got.value == pytest.approx(want.statistic, abs=1e-12)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


def test_ks_binned_is_within_the_largest_bin_mass(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = shifted
    spec, r, c = _numeric(ref, cur)
    got = get_statistic("ks").compute(r, c, spec).value
    exact = sps.ks_2samp(ref, cur).statistic
    largest = max((counts_of(r) / r.valid).max(), (counts_of(c) / c.valid).max())
    assert exact - largest <= got <= exact + 1e-12
    assert got == pytest.approx(exact, abs=0.02)  # in practice much closer than the bound


def test_wasserstein_within_the_quantisation_bound(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    ref, cur = shifted
    spec, r, c = _numeric(ref, cur)
    got = get_statistic("wasserstein").compute(r, c, spec).value
    points = bin_points(spec)
    edges = np.asarray(spec.edges)

    def moved(x: np.ndarray) -> float:
        return float(np.abs(x - points[np.searchsorted(edges, x, side="right")]).mean())

    std = ref.std()
    exact = sps.wasserstein_distance(ref, cur) / std
    assert abs(got - exact) <= (moved(ref) + moved(cur)) / std
    assert got == pytest.approx(exact, rel=0.15)


def test_wasserstein_of_a_location_shift_is_the_shift_in_stds() -> None:
    rng = np.random.default_rng(3)
    spec, r, c = _numeric(rng.normal(size=50_000), rng.normal(loc=0.25, size=50_000))
    assert get_statistic("wasserstein").compute(r, c, spec).value == pytest.approx(0.25, abs=0.02)


def test_chisquare_equals_chi2_contingency() -> None:
    rng = np.random.default_rng(11)
    ref = pd.DataFrame({"c": rng.choice(list("abcde"), p=[0.4, 0.3, 0.2, 0.07, 0.03], size=10_000)})
    cur = pd.DataFrame({"c": rng.choice(list("abcdf"), p=[0.35, 0.3, 0.2, 0.1, 0.05], size=2_000)})
    specs = build_specs(ref, [("c", "categorical")], top_k=3)
    r, c = profile_frame(ref, specs).features["c"], profile_frame(cur, specs).features["c"]
    assert isinstance(r, CategoricalProfile) and isinstance(c, CategoricalProfile)
    table = np.array([r.vector(), c.vector()], dtype=float)
    want = sps.chi2_contingency(table, correction=False)
    got = get_statistic("chisquare").compute(r, c, specs["c"])
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)
    assert got.extra["chi2"] == pytest.approx(want.statistic, rel=1e-12)
    assert got.value == pytest.approx(np.sqrt(want.statistic * (1 / 10_000 + 1 / 2_000)), rel=1e-12)


def test_chisquare_ignores_a_category_empty_on_both_sides() -> None:
    r = CategoricalProfile("c", 30, 0, ("a", "b"), (10, 20), 0, 0)
    c = CategoricalProfile("c", 30, 0, ("a", "b"), (20, 10), 0, 0)
    got = get_statistic("chisquare").compute(r, c, build_specs(pd.DataFrame({"c": ["a", "b"]}), [("c", "categorical")])["c"])
    want = sps.chi2_contingency(np.array([[10, 20], [20, 10]]), correction=False)
    assert got.p_value == pytest.approx(want.pvalue, rel=1e-9)


def test_batch_rows_equal_single_computations(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    spec, r, c = _numeric(*shifted)
    stacked_ref = np.stack([counts_of(r), counts_of(c)])
    stacked_cur = np.stack([counts_of(c), counts_of(r)])
    for name in ("psi", "jensenshannon", "wasserstein", "ks"):
        stat = get_statistic(name)
        batch = stat.batch(stacked_ref, stacked_cur, geometry(spec, r))
        assert batch[0] == pytest.approx(stat.compute(r, c, spec).value, rel=1e-12)


def test_identical_profiles_are_at_distance_zero(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    spec, r, _ = _numeric(*shifted)
    for name in ("psi", "jensenshannon", "wasserstein", "ks"):
        assert get_statistic(name).compute(r, r, spec).value == pytest.approx(0.0, abs=1e-12)


def test_a_statistic_refuses_the_wrong_kind(shifted: tuple[np.ndarray, np.ndarray]) -> None:
    spec, r, c = _numeric(*shifted)
    with pytest.raises(ValueError, match="chisquare"):
        get_statistic("chisquare").compute(r, c, spec)
