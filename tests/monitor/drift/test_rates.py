"""The rate tests of monitor/drift/rates.py: known answers against statsmodels, and their size at the floor."""

from __future__ import annotations

import numpy as np
import pytest
from statsmodels.stats.proportion import score_test_proportions_2indep
from statsmodels.stats.rates import test_poisson_2indep as poisson_2indep

from monitor.drift import rates
from monitor.drift.decision import DecisionInput, decide
from monitor.schema.profile import CategoricalProfile, CategoricalSpec, NumericProfile, NumericSpec


def _num(values: np.ndarray, name: str = "x") -> NumericProfile:
    v = np.asarray(values, dtype=float)
    return NumericProfile(name=name, count=v.size, nulls=0, infinite=0, min=float(v.min()), max=float(v.max()),
                          mean=float(v.mean()), variance=float(v.var()), bin_counts=(v.size,), below_range=0,
                          above_range=0, zeros=int((v == 0).sum()), fractional=int((v != np.floor(v)).sum()))


def _cat(counts: list[int], name: str = "c") -> CategoricalProfile:
    top = tuple(f"v{i}" for i in range(len(counts)))
    return CategoricalProfile(name=name, count=sum(counts), nulls=0, categories=top, counts=tuple(counts),
                              other=0, unseen=0)


@pytest.mark.parametrize("c1,n1,c0,n0,diff", [(2250, 50_000, 600, 20_000, 0.003), (120, 1000, 80, 1000, 0.01),
                                              (31, 500, 600, 20_000, 0.003), (9, 300, 2, 400, 0.02)])
def test_score_test_matches_statsmodels(c1: int, n1: int, c0: int, n0: int, diff: float) -> None:
    want = score_test_proportions_2indep(c1, n1, c0, n0, value=diff, compare="diff", alternative="larger")
    got = rates.score_larger(np.array([c1]), n1, np.array([c0]), n0, np.array([diff]))[0]
    assert got == pytest.approx(want.pvalue, rel=1e-9, abs=1e-15)


def test_rate_test_is_statsmodels_wald_log_for_poisson_rows() -> None:
    # rows whose variance equals their mean (Poisson): the z of log(mean ratio) is statsmodels' wald-log,
    # against the floor (one-sided) and against no change (two-sided)
    ref, cur = _num(np.array([0, 2, 4, 2] * 500)), _num(np.array([3 - 6**0.5, 3, 3 + 6**0.5, 3] * 250))
    assert ref.variance == pytest.approx(ref.mean) and cur.variance == pytest.approx(cur.mean)
    got = rates.rate_test(ref, cur, rates.RateFloors(mean_relative=0.05))
    want = poisson_2indep(cur.mean * cur.valid, cur.valid, ref.mean * ref.valid, ref.valid, value=1.05,
                          method="wald-log", compare="ratio", alternative="larger")
    none = poisson_2indep(cur.mean * cur.valid, cur.valid, ref.mean * ref.valid, ref.valid, value=1.0,
                          method="wald-log", compare="ratio", alternative="two-sided")
    assert got is not None and got.change == pytest.approx(0.5)
    assert got.p_floor == pytest.approx(want.pvalue, rel=1e-6, abs=1e-300)
    assert got.p_value == pytest.approx(none.pvalue, rel=1e-6, abs=1e-300)  # beyond the floor: the change's p


@pytest.mark.parametrize("c1,n1,c0,n0", [(130, 5000, 600, 20_000), (2210, 5000, 8000, 20_000), (60, 5000, 180, 20_000)])
def test_change_test_is_statsmodels_score_test_at_no_margin(c1: int, n1: int, c0: int, n0: int) -> None:
    want = score_test_proportions_2indep(c1, n1, c0, n0, value=0, compare="diff", alternative="two-sided")
    got = rates.change_p_values(np.array([float(c1)]), n1, np.array([float(c0)]), n0)[0]
    assert got == pytest.approx(want.pvalue, rel=1e-9)


def test_the_intersection_union_p_value_is_the_change_p_beyond_the_floor_else_one() -> None:
    got = rates.iut(np.array([1e-6, 1e-6, 0.3]), np.array([0.01, 0.05, 0.001]), 0.02)
    assert got.tolist() == [1e-6, 1.0, 0.3]


def test_floors_are_the_smaller_of_points_and_relative_never_below_the_minimum() -> None:
    f = rates.RateFloors(points=0.025, relative=0.1, minimum=0.002)
    assert f.share(np.array([0.6, 0.1, 0.03, 0.005, 0.97])).tolist() == pytest.approx([0.025, 0.01, 0.003, 0.002, 0.003])


def test_kinds_inferred_from_the_reference() -> None:
    rng = np.random.default_rng(1)
    assert rates.infer_kind(_num(rng.poisson(3, 2000))) == "count"
    assert rates.infer_kind(_num(np.where(rng.random(2000) < 0.5, 0.0, rng.random(2000) + 1))) == "zero_inflated"
    assert rates.infer_kind(_num(np.where(rng.random(2000) < 0.5, 0, rng.poisson(4, 2000)))) == "zero_inflated_count"
    assert rates.infer_kind(_num(rng.standard_normal(2000))) == "continuous"
    assert rates.infer_kind(_cat([970, 30])) == "binary" and rates.infer_kind(_cat([5, 3, 2])) == "categorical"
    old = NumericProfile(name="x", count=5, nulls=0, infinite=0, min=0.0, max=3.0, mean=1.0, variance=1.0,
                         bin_counts=(5,), below_range=0, above_range=0)  # stored before the counts existed
    assert rates.infer_kind(old) == "continuous"


def _size_shares(p_ref: float, n_ref: int, n_win: int, floor: rates.RateFloors, alpha: float, reps: int,
                 on_floor: bool = True, which: str = "p_floor") -> float:
    """Rejection rate of a share's test (its floor half ``p_floor`` or the whole test ``p_value``) at level
    alpha when the true rate sits exactly on its floor (or, ``on_floor=False``, did not change). Vectorised
    over the draws with the functions ``shares_test`` applies per cell (a binary's two cells are one test)."""
    rng = np.random.default_rng(7)
    f = float(floor.share(np.array([p_ref]))[0])
    cr = rng.binomial(n_ref, p_ref, reps).astype(float)
    cw = rng.binomial(n_win, p_ref + f * on_floor, reps).astype(float)
    pf = rates.share_p_values(cw, n_win, cr, n_ref, np.full(reps, f))
    pv = rates.iut(rates.change_p_values(cw, n_win, cr, n_ref), pf, floor.floor_alpha)
    return float(((pf if which == "p_floor" else pv) <= alpha).mean())


def _within(rate: float, alpha: float, reps: int) -> bool:
    return rate <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / reps)  # within noise of alpha (one-sided)


@pytest.mark.parametrize("p_ref,n_win", [(0.03, 2000), (0.3, 500), (0.6, 5000)])
def test_share_test_size_at_the_floor(p_ref: float, n_win: int) -> None:
    # the floor half at its own level, and the whole test: a change on its floor flagged <= floor_alpha
    assert _within(rate := _size_shares(p_ref, 20_000, n_win, rates.RateFloors(), 0.05, 2000), 0.05, 2000), rate
    f = rates.RateFloors()
    rate = _size_shares(p_ref, 20_000, n_win, f, alpha=0.5, reps=8000, which="p_value")
    # the score test's normal tail is a little thin for a 3% share at 60 expected rows: 2.25% at the 2%
    # level over 20,000 draws (docs/drift-decisions.md 2d), so the bound is 1.25 x floor_alpha here
    assert _within(rate, 1.25 * f.floor_alpha, 8000), rate


@pytest.mark.parametrize("p_ref,n_win", [(0.03, 500), (0.3, 2000), (0.6, 50_000)])
def test_share_test_size_with_no_change(p_ref: float, n_win: int) -> None:
    # the whole test at a run-like level (1% over 15 columns) when nothing changed
    alpha, reps = 0.01 / 15 * 10, 4000  # x10 so that 4,000 draws resolve it
    rate = _size_shares(p_ref, 20_000, n_win, rates.RateFloors(), alpha=alpha, reps=reps, on_floor=False,
                        which="p_value")
    assert _within(rate, alpha, reps), rate


def test_share_test_size_in_the_far_tail_for_a_dozen_rows() -> None:
    # a 2.3% category in 500 rows (about 12 expected): the skewed count once made the normal tail too thin
    alpha, reps = 0.002, 5000
    rate = _size_shares(0.023, 20_000, 500, rates.RateFloors(), alpha=alpha, reps=reps)
    assert _within(rate, alpha, reps), rate
    rate = _size_shares(0.023, 20_000, 500, rates.RateFloors(), alpha=alpha, reps=reps, on_floor=False,
                        which="p_value")
    assert _within(rate, alpha, reps), rate


def test_a_dozen_rows_are_judged_by_their_exact_binomial_tail() -> None:
    # the no-change run that showed it: a 2.3% category (460 of 20,000) seen 28 times in 500 rows
    from scipy.stats import binom

    floor = float(rates.RateFloors().share(np.array([0.023]))[0])
    got = rates.share_p_values(np.array([28.0]), 500, np.array([460.0]), 20_000, np.array([floor]))[0]
    exact = binom.sf(27, 500, 0.023 + floor)
    score = rates.score_larger(np.array([28.0]), 500, np.array([460.0]), 20_000, np.array([floor]))[0]
    assert score < exact / 5  # the normal tail alone is far too thin here
    assert got >= exact
    assert rates.change_p_values(np.array([28.0]), 500, np.array([460.0]), 20_000)[0] >= 2 * binom.sf(27, 500, 0.023)


def _zeros_rate(q_shift: float, alpha: float, which: str, reps: int = 2000) -> float:
    rng = np.random.default_rng(3)
    floors, p = rates.RateFloors(), 0.6

    def prof(n: int, share: float) -> NumericProfile:  # only the counts the zero-share test reads
        return NumericProfile(name="x", count=n, nulls=0, infinite=0, min=0.0, max=1.5, mean=1.0, variance=1.0,
                              bin_counts=(n,), below_range=0, above_range=0, zeros=int(rng.binomial(n, share)),
                              fractional=n)

    hits = 0
    for _ in range(reps):
        res = rates.zeros_test(prof(20_000, p), prof(2000, p + q_shift), floors)
        hits += res is not None and getattr(res, which) <= alpha
    return hits / reps


def test_zero_share_test_size_at_the_floor() -> None:
    floor = float(rates.RateFloors().zero_share(np.array([0.6]))[0])
    assert floor == pytest.approx(0.01)  # zeros_points, not rate_points: a zero share moving is often a fault
    assert _within(rate := _zeros_rate(floor, 0.05, "p_floor"), 0.05, 2000), rate
    assert _within(rate := _zeros_rate(floor, 0.5, "p_value"), rates.RateFloors().floor_alpha, 2000), rate
    assert _within(rate := _zeros_rate(0.0, 0.01, "p_value"), 0.01, 2000), rate


def _rate_rate(factor: float, alpha: float, which: str, reps: int = 2000) -> float:
    rng = np.random.default_rng(5)

    def prof(n: int, lam: float) -> NumericProfile:  # only the moments the rate test reads
        v = rng.poisson(lam, n)
        return NumericProfile(name="x", count=n, nulls=0, infinite=0, min=0.0, max=float(v.max()),
                              mean=float(v.mean()), variance=float(v.var()), bin_counts=(n,), below_range=0,
                              above_range=0, zeros=0, fractional=0)

    hits = 0
    for _ in range(reps):
        res = rates.rate_test(prof(20_000, 3.0), prof(2000, 3.0 * factor), rates.RateFloors())
        hits += res is not None and getattr(res, which) <= alpha
    return hits / reps


def test_rate_test_size_at_the_floor() -> None:
    f = rates.RateFloors()
    assert _within(rate := _rate_rate(1 + f.mean_relative, 0.05, "p_floor"), 0.05, 2000), rate
    assert _within(rate := _rate_rate(1 + f.mean_relative, 0.5, "p_value"), f.floor_alpha, 2000), rate
    assert _within(rate := _rate_rate(1.0, 0.01, "p_value"), 0.01, 2000), rate


def _binary(n: int, share: float, name: str = "flag") -> tuple[CategoricalSpec, CategoricalProfile]:
    yes = round(n * share)
    spec = CategoricalSpec(name=name, expr=name, top=("no", "yes"), known=("no", "yes"))
    return spec, CategoricalProfile(name=name, count=n, nulls=0, categories=spec.top, counts=(n - yes, yes),
                                    other=0, unseen=0)


def test_a_rare_flag_rising_by_half_is_flagged_by_its_rate_and_says_so() -> None:
    spec, ref = _binary(20_000, 0.03)
    _, cur = _binary(5_000, 0.045)
    d = decide([DecisionInput("flag", "categorical", spec, ref, cur)])[0]
    assert d.drifted and d.extra["column_kind"] == "binary" and d.extra["flagged_by"] == "shares"
    assert d.extra["shares_cell"] == "yes" and d.extra["shares_change"] == pytest.approx(0.015) and d.extra["shares_floor"] == pytest.approx(0.003)
    assert "rate change of ≥ " in (d.min_detectable_text or "")


def test_minimum_detectable_change_shrinks_with_the_window() -> None:
    spec = NumericSpec(name="x", expr="x", edges=tuple(np.linspace(-1.5, 1.5, 19)), ref_min=-4.0, ref_max=4.0)
    rng = np.random.default_rng(2)

    def prof(n: int) -> NumericProfile:
        v = rng.standard_normal(n)
        idx = np.searchsorted(np.asarray(spec.edges), v, side="right")
        return NumericProfile(name="x", count=n, nulls=0, infinite=0, min=float(v.min()), max=float(v.max()),
                              mean=float(v.mean()), variance=float(v.var()),
                              bin_counts=tuple(np.bincount(idx, minlength=spec.bins).tolist()), below_range=0,
                              above_range=0, zeros=0, fractional=n)

    ref = prof(20_000)
    small = decide([DecisionInput("x", "numerical", spec, ref, prof(300))])[0]
    large = decide([DecisionInput("x", "numerical", spec, ref, prof(20_000))])[0]
    assert small.min_detectable["location"] > 2 * large.min_detectable["location"] > 2 * 0.055
    assert (small.min_detectable_text or "").startswith("at 300 rows this window can only see a location shift of ≥ ")


@pytest.mark.parametrize("n_win", [500, 5000])
def test_a_change_at_the_minimum_detectable_change_is_flagged_about_half_the_time(n_win: int) -> None:
    # the page's number is the rule's: a rare flag (3%) raised by its quoted minimum detectable change
    spec, ref = _binary(20_000, 0.03)
    _, quiet = _binary(n_win, 0.03)
    mdc = decide([DecisionInput("flag", "categorical", spec, ref, quiet)])[0].min_detectable["shares"]
    rng = np.random.default_rng(4)
    hits = 0
    for _ in range(200):
        yes_r, yes_w = int(rng.binomial(20_000, 0.03)), int(rng.binomial(n_win, 0.03 + mdc))
        r = CategoricalProfile(name="flag", count=20_000, nulls=0, categories=spec.top, counts=(20_000 - yes_r, yes_r),
                               other=0, unseen=0)
        w = CategoricalProfile(name="flag", count=n_win, nulls=0, categories=spec.top, counts=(n_win - yes_w, yes_w),
                               other=0, unseen=0)
        hits += decide([DecisionInput("flag", "categorical", spec, r, w)])[0].drifted
    assert 0.3 <= hits / 200 <= 0.7, (mdc, hits)
