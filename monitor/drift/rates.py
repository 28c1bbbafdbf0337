"""Rate tests for the kinds of column a person states floors for in rates, not distances.

A column's *kind* says which floors speak its language (docs/drift-decisions.md, section 2c):

    continuous           numerical: location and spread in reference standard deviations (decision.py)
    count                numerical, non-negative whole numbers: also the rate (the mean), relative change
    zero_inflated        numerical with many exact zeros: also the share of zeros, in rate floors
    zero_inflated_count  both of the above
    binary               categorical with two levels: the rate of each level, in points and relative change
    categorical          every category's share (the largest change decides) and the share of new values

The kind is inferred from the reference profile (``infer_kind``) unless the config names it.
Each test is an **intersection-union test** (Berger 1982) of two closed forms, so a run of many columns
stays fast: it flags when the change is significant against *no change* at the run's budget (the p-value
that joins the run's Benjamini-Hochberg family) **and** beyond its floor at ``floor_alpha`` (H0: the change
is at most the floor). So a run with no change false-alarms at most at its budget, and one cell (a share, the
zero share, the rate) changed exactly by its floor is flagged at most ``floor_alpha`` of the time. The gate is
per cell, not Bonferroni-adjusted over a column's cells: a column whose every cell sits exactly on its floor
can pass it more often (7.5% for four cells at 50,000 rows, measured in review), a case the below-floor
benchmark rows bound (docs/drift-decisions.md, section 2d):

* shares: the Miettinen-Nurminen score test of two independent proportions with a margin
  (statsmodels' ``score_test_proportions_2indep(compare='diff', value=floor)``), vectorised over the
  cells of a column; both boundaries of ``|q - p| <= floor``; Bonferroni over the tested cells.
  Against no change: the same score test at a margin of 0 (the pooled two-proportion test).
* a count's rate: a z-test of ``log(mean_window / mean_reference)`` against ``log(1 + floor)`` (and 0) with
  each side's own variance (Poisson rows give statsmodels' ``test_poisson_2indep(method='wald-log')``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats as sps

from monitor.config import defaults
from monitor.schema.profile import CategoricalProfile, FeatureProfile, NumericProfile

KINDS: dict[str, str] = {
    "continuous": "numerical", "count": "numerical", "zero_inflated": "numerical",
    "zero_inflated_count": "numerical", "binary": "categorical", "categorical": "categorical",
}


@dataclass(frozen=True)
class RateFloors:
    """The rate floors of one column: absolute points, relative change, their minimum, new values."""

    points: float = defaults.RATE_POINTS
    relative: float = defaults.RATE_RELATIVE
    minimum: float = defaults.RATE_MINIMUM
    new_values: float = defaults.NEW_VALUES_SHARE
    mean_relative: float = defaults.MEAN_RELATIVE
    zeros_points: float = defaults.ZEROS_POINTS
    floor_alpha: float = defaults.FLOOR_ALPHA  # how sure the change must be beyond its floor (the IUT's gate)

    def zero_share(self, p: np.ndarray) -> np.ndarray:
        """The floor of a zero share p: as ``share`` with ``zeros_points`` for the absolute floor."""
        return self.share(p, self.zeros_points)

    def share(self, p: np.ndarray, points: float | None = None) -> np.ndarray:
        """The floor of a share p: the smaller of the absolute (`points`, else ``points``) and relative
        floors, never below minimum."""
        p = np.asarray(p, dtype=float)
        absolute = self.points if points is None else points
        return np.maximum(self.minimum, np.minimum(absolute, self.relative * np.minimum(p, 1.0 - p)))


def infer_kind(ref: FeatureProfile) -> str:
    """The column's kind from its reference profile (two levels: binary; whole numbers >= 0: count...)."""
    if isinstance(ref, CategoricalProfile):
        return "binary" if sum(c > 0 for c in (*ref.counts, ref.other)) == 2 else "categorical"
    if not isinstance(ref, NumericProfile) or ref.zeros is None or ref.valid <= 0:
        return "continuous"
    count = ref.fractional == 0 and ref.min is not None and ref.min >= 0 and (ref.mean or 0) > 0
    zero = ref.zeros / ref.valid >= defaults.ZERO_INFLATED_SHARE
    return ("zero_inflated_count" if count else "zero_inflated") if zero else ("count" if count else "continuous")


def score_larger(c1: np.ndarray, n1: np.ndarray, c0: np.ndarray, n0: np.ndarray, diff: np.ndarray) -> np.ndarray:
    """One-sided p-value of H0: p1 - p0 <= diff (diff > 0), Miettinen-Nurminen score test, vectorised.

    Same formulas as statsmodels.stats.proportion.score_test_proportions_2indep (with its default
    small-sample correction): the variance uses the proportions constrained to the boundary.
    """
    c1, n1, c0, n0, diff = (np.asarray(x, dtype=float) for x in (c1, n1, c0, n0, diff))
    n, c = n1 + n0, c1 + c0
    t2 = (n1 + 2 * n0) * diff - n - c
    t1 = (c0 * diff - n - 2 * c0) * diff + c
    t0 = c0 * diff * (1 - diff)
    q = (t2 / (3 * n)) ** 3 - t1 * t2 / (6 * n**2) + t0 / (2 * n)
    s = np.sign(q) * np.sqrt(np.clip((t2 / (3 * n)) ** 2 - t1 / (3 * n), 0.0, None))
    with np.errstate(invalid="ignore", divide="ignore"):
        a = (np.pi + np.arccos(np.clip(np.where(s != 0, q / s**3, 0.0), -1.0, 1.0))) / 3
    p0 = np.clip(2 * s * np.cos(a) - t2 / (3 * n), 0.0, 1.0)
    p1 = np.clip(p0 + diff, 0.0, 1.0)
    var = (p1 * (1 - p1) / n1 + p0 * (1 - p0) / n0) * n / (n - 1)
    stat = c1 / n1 - c0 / n0 - diff
    with np.errstate(invalid="ignore", divide="ignore"):
        z = np.where(var > 0, stat / np.sqrt(np.where(var > 0, var, 1.0)), np.where(stat > 0, np.inf, -np.inf))
    return sps.norm.sf(z)


def share_p_values(cw: np.ndarray, nw: float, cr: np.ndarray, nr: float, floor: np.ndarray) -> np.ndarray:
    """Per cell, the p-value of H0: |q - p| <= floor: the one-sided score test in the direction seen (a
    fall is the complement's rise), plus the chance of so large a move from the far boundary (as the
    spread test: it matters only when the floor is small beside the noise)."""
    p = cr / nr
    near = _nearer_tail(cw, nw, cr, nr, floor)
    se = np.sqrt(np.clip(p * (1 - p), 1e-12, None) * (1 / nw + 1 / nr))
    far = sps.norm.sf(sps.norm.isf(np.clip(near, 1e-300, 1.0)) + 2 * floor / se)
    return np.minimum(1.0, near + far)


def change_p_values(cw: np.ndarray, nw: float, cr: np.ndarray, nr: float) -> np.ndarray:
    """Per cell, the two-sided p-value of H0: q = p (no change): the score test at a margin of 0 (the
    pooled two-proportion z), each side guarded by the exact binomial tail (the reference taken as known)
    for a cell of a dozen rows, as ``share_p_values``."""
    return np.minimum(1.0, 2 * _nearer_tail(cw, nw, cr, nr, np.zeros_like(np.asarray(cw, dtype=float))))


def _nearer_tail(cw: np.ndarray, nw: float, cr: np.ndarray, nr: float, floor: np.ndarray) -> np.ndarray:
    """Per cell, the one-sided p-value of a move past `floor` in the direction seen (a fall is the
    complement's rise).

    A share of a dozen rows has a skewed count: the normal tail of the score test is then too thin on the
    high side (a no-change run flagged a 2.3% category seen 28 times in 500 rows). The exact binomial
    tail of the window's count at the boundary, the reference taken as known, is right there; where the
    reference's own noise matters (large windows) the score test is the larger one. The larger of the two."""
    p = cr / nr
    up = np.maximum(score_larger(cw, nw, cr, nr, floor), sps.binom.sf(cw - 1, nw, np.clip(p + floor, 0.0, 1.0)))
    down = np.maximum(score_larger(nw - cw, nw, nr - cr, nr, floor),
                      sps.binom.cdf(cw, nw, np.clip(p - floor, 0.0, 1.0)))
    return np.minimum(up, down)


def iut(p_change: np.ndarray, p_floor: np.ndarray, floor_alpha: float) -> np.ndarray:
    """The intersection-union test's p-value: ``p_change`` where the change is beyond its floor at
    ``floor_alpha``, else 1. It is never below ``p_change``, so it is valid against no change."""
    return np.where(np.asarray(p_floor) <= floor_alpha, p_change, 1.0)


@dataclass(frozen=True)
class RateResult:
    """One rate test of a column: what moved, by how much, against which floor, and its p-value."""

    test: str  # shares | zeros | rate
    p_value: float  # the intersection-union test's: against no change, 1 unless beyond the floor at floor_alpha
    change: float  # the largest share change (points as a fraction), the zero-share change, or the rate's ratio - 1
    floor: float  # in the same units, for the cell that decided
    cell: str = ""  # the category whose share moved most (shares)
    se: float = 0.0  # of the change, at the reference's value: for the minimum detectable change
    cells: int = 1  # Bonferroni factor
    mdc_floor: float | None = None  # shares: the floor of the cell the minimum detectable change is quoted for
    mdc_cell: str = ""
    se_new: float = 0.0  # shares: of a new-values share at its floor
    floor_new: float = 0.0
    p_floor: float = 1.0  # the deciding cell's test against its floor (H0: the change is at most the floor)
    floor_alpha: float = defaults.FLOOR_ALPHA


def shares_test(ref: np.ndarray, cur: np.ndarray, names: list[str], floors: RateFloors) -> RateResult | None:
    """Every category's share (top-K, other, unseen: the last cell) against its floor; the column is
    judged by the most significant cell, Bonferroni over the cells tested. A cell is tested when the
    window is expected to hold enough of it for the normal approximation (``defaults.MIN_EXPECTED``),
    a choice made from the reference and the window's size only, so the Bonferroni factor is fixed in advance."""
    nr, nw = float(ref.sum()), float(cur.sum())
    if nr <= 0 or nw <= 0:
        return None
    p = ref / nr
    floor = floors.share(p)
    floor[-1] = floors.new_values  # the unseen cell: the share of values the reference never had
    tested = nw * np.minimum(p, 1 - p) >= defaults.MIN_EXPECTED
    tested[-1] = True
    idx = np.nonzero(tested)[0]
    pf = share_p_values(cur[idx], nw, ref[idx], nr, floor[idx])
    pv = iut(change_p_values(cur[idx], nw, ref[idx], nr), pf, floors.floor_alpha)
    k = int(np.lexsort((pf, pv))[0])  # the most significant cell; among cells of p = 1, the nearest past its floor
    i = int(idx[k])
    best = float(pv[k])
    levels = int(sum(pr > 0 for pr in p[:-1]))
    # a binary column's two levels move together: count them once
    m = max(1, idx.size - int(levels == 2 and tested[:-1].sum() == 2))
    # the minimum detectable change is quoted for one fixed cell: a binary's rarer level, else the largest
    j = int(np.argmin(np.where(p[:-1] > 0, p[:-1], np.inf))) if levels == 2 else int(np.argmax(p[:-1]))
    if levels == 2 and i != p.size - 1 and j in idx:
        i = j  # a binary's two levels tell the same change: say it as the rarer level's rate
    se = float(np.sqrt(p[j] * (1 - p[j]) * (1 / nw + 1 / nr)))
    f_new = floors.new_values
    return RateResult("shares", float(min(1.0, m * best)), float(cur[i] / nw - p[i]), float(floor[i]),
                      names[i], se, m, mdc_floor=float(floor[j]), mdc_cell=names[j],
                      se_new=float(np.sqrt(f_new * (1 - f_new) / nw)), floor_new=f_new,
                      p_floor=float(min(1.0, pf[k])), floor_alpha=floors.floor_alpha)


def zeros_test(ref: NumericProfile, cur: NumericProfile, floors: RateFloors) -> RateResult | None:
    """The share of exact zeros against its floor (zero-inflated columns), ``zeros_points`` for its points."""
    if ref.zeros is None or cur.zeros is None or ref.valid <= 0 or cur.valid <= 0:
        return None
    nr, nw = float(ref.valid), float(cur.valid)
    p = ref.zeros / nr
    f = float(floors.zero_share(np.array([p]))[0])
    cw, cr = np.array([float(cur.zeros)]), np.array([float(ref.zeros)])
    pf = float(share_p_values(cw, nw, cr, nr, np.array([f]))[0])
    pv = float(iut(change_p_values(cw, nw, cr, nr), np.array([pf]), floors.floor_alpha)[0])
    return RateResult("zeros", pv, cur.zeros / nw - p, f, se=float(np.sqrt(p * (1 - p) * (1 / nw + 1 / nr))),
                      p_floor=pf, floor_alpha=floors.floor_alpha)


def rate_test(ref: NumericProfile, cur: NumericProfile, floors: RateFloors) -> RateResult | None:
    """A count's rate (its mean) against a relative floor: z on log(mean ratio), each side's own variance."""
    if not (ref.mean and cur.mean and ref.mean > 0 and cur.mean > 0) or ref.valid <= 1 or cur.valid <= 1:
        return None
    v_r = (ref.variance or 0.0) / (ref.valid * ref.mean**2)
    v_w = (cur.variance or 0.0) / (cur.valid * cur.mean**2)
    d, se, bound = float(np.log(cur.mean / ref.mean)), float(np.sqrt(v_r + v_w)), float(np.log1p(floors.mean_relative))
    if abs(d) <= bound:
        p = 1.0
    elif se <= 0:
        p = 0.0
    else:
        p = float(sps.norm.sf((abs(d) - bound) / se) + sps.norm.sf((abs(d) + bound) / se))
    # against no change: the same z at a bound of 0, two-sided
    p0 = (1.0 if d == 0 else 0.0) if se <= 0 else float(2 * sps.norm.sf(abs(d) / se))
    pv = float(iut(np.array([p0]), np.array([p]), floors.floor_alpha)[0])
    se_ref = float(np.sqrt(v_r + (ref.variance or 0.0) / (cur.valid * ref.mean**2)))  # the window at the reference's spread
    return RateResult("rate", min(pv, 1.0), float(np.expm1(d)), floors.mean_relative, se=se_ref,
                      p_floor=min(p, 1.0), floor_alpha=floors.floor_alpha)


def detectable(test: RateResult, level: float) -> float:
    """The smallest change this test flags half the time at ``level`` (its share of the run's budget),
    in the test's own units, se at the reference's value: the larger of what the two halves of the
    intersection-union test need, ``floor + z(floor_alpha) se`` and ``z(level / cells / 2) se``."""
    z = float(sps.norm.isf(max(level / max(test.cells, 1) / 2, 1e-300)))
    z_floor = float(sps.norm.isf(test.floor_alpha))
    if test.test == "rate":
        return float(np.expm1(max(np.log1p(test.floor) + z_floor * test.se, z * test.se)))
    floor = test.floor if test.mdc_floor is None else test.mdc_floor
    return max(floor + z_floor * test.se, z * test.se)


def detectable_new(test: RateResult, level: float) -> float:
    """Shares: the smallest share of new values flagged half the time (a value the reference never had is
    significant against no change from a handful of rows: the floor's half decides)."""
    return test.floor_new + float(sps.norm.isf(test.floor_alpha)) * test.se_new
