"""The drift decision rule: flag a column only when confident its change exceeds a practical floor.

For each column (feature, prediction, label) of a run:

1. ``t`` = the statistic between the reference's and the window's binned distributions.
2. H0: the true distance is at most the floor. The least favourable point of H0 in the
   observed direction is ``q = (1 - lam) p_ref + lam p_win`` with ``lam`` solving
   ``D(p_ref, q) = floor``. A seeded parametric bootstrap draws reference-size and
   window-size multinomial samples from ``p_ref`` and ``q`` and recomputes the statistic:
   its spread at exactly this pair of sizes, floor included. A gamma fitted by moments to
   those draws gives the p-value ``P(T >= t)`` (the tail beyond the draws themselves).
   If ``t <= floor`` there is no evidence of a change above the floor: p = 1.
   Numerical columns get a second test, on their **spread**: the log ratio of the window's and
   the reference's mean absolute deviation from the median (from the bins), H0: it is at most
   ``spread_floor`` in size, a z-test on the boundary (both of its tails). A distance on binned values
   sees a 1.2x scale change of a heavy-tailed feature poorly (its mass moves beyond the outer
   quantiles); this ratio sees it alike on every shape, and a small location shift hardly
   moves it. The column's p-value
   is the weighted Bonferroni of the two, ``min(1, p_loc / 0.8, p_spread / 0.2)``, so the run's
   family keeps one member per column. Rates, shares, zero shares and a count's mean add their own
   tests (monitor/drift/rates.py), intersection-union tests: significant against no change at the
   run's budget and beyond their floor at ``floor_alpha`` (docs/drift-decisions.md, section 2d).
3. Benjamini-Hochberg at level ``fdr`` across every decided column of the run. Under no
   change BH's false discovery rate equals its family-wise error rate, so ``fdr`` bounds the
   share of runs with any false alarm (default 1%).

Windows with fewer valid values than ``min_rows`` get status "insufficient_data". The
bootstrap is seeded from the caller's seed and the window's own counts, so the same window
always gets the same verdict. See docs/drift-decisions.md for the calibration.
"""

from __future__ import annotations

import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats as sps

from monitor.config import defaults
from monitor.drift import detectable, rates
from monitor.drift.spread import Spread, spread_test
from monitor.drift.statistics import (
    DEFAULT_STATISTIC,
    Geometry,
    Statistic,
    counts_of,
    geometry,
    get_statistic,
)
from monitor.schema.profile import (
    CategoricalSpec,
    FeatureProfile,
    Kind,
    NumericProfile,
    NumericSpec,
    Spec,
)

DEFAULT_FDR = defaults.FDR
DEFAULT_MIN_ROWS = defaults.MIN_ROWS
DEFAULT_REPLICATES = 400
# The spread test's floor, on log(dispersion ratio): 0.025 is about a 1.03x scale change once binned
# (a 1.2x change measures 0.14 to 0.16 on the benchmark's shapes, a 1.02x change 0.017 to 0.019).
DEFAULT_SPREAD_FLOOR = defaults.SPREAD_FLOOR
LOCATION_WEIGHT = 0.8  # of the run's per-column level, for the distance; the rest for the spread
_GRID, _ROUNDS = 33, 4  # the boundary search: 4 vectorised rounds of 32 cells

Status = str  # "ok" | "drift" | "insufficient_data"


@dataclass(frozen=True)
class DecisionInput:
    """One column to decide: its spec, reference and window profiles, statistic and floor."""

    name: str
    kind: Kind
    spec: Spec
    reference: FeatureProfile
    window: FeatureProfile
    statistic: str | None = None  # None -> DEFAULT_STATISTIC[kind]
    floor: float | None = None  # None -> the statistic's default floor for this kind
    min_rows: int = DEFAULT_MIN_ROWS
    spread_floor: float | None = DEFAULT_SPREAD_FLOOR  # numerical only; None: no spread test
    column_kind: str | None = None  # monitor.drift.rates.KINDS; None: inferred from the reference profile
    rate_floors: rates.RateFloors = field(default_factory=rates.RateFloors)


@dataclass(frozen=True)
class PrecomputedTest:
    """A test decided elsewhere (the multivariate classifier) that joins the run's BH family."""

    name: str
    kind: str
    statistic: str
    value: float | None
    p_value: float | None  # None -> insufficient data
    threshold: float
    floor: float


@dataclass(frozen=True)
class Decision:
    """The verdict on one column of a run."""

    name: str
    kind: str
    statistic: str
    value: float | None
    threshold: float  # the value above which this column is flagged at this size (the floor if undecided)
    p_value: float | None  # the column's tests combined (distance, spread: against the floor; rates: 2d)
    drifted: bool
    status: Status
    floor: float
    extra: dict[str, Any] = field(default_factory=dict)
    # the smallest change this window's size lets the column flag (half the time) at the run's budget,
    # per test in its floor's units (monitor/drift/detectable.py)
    min_detectable: dict[str, float] = field(default_factory=dict)
    min_detectable_text: str | None = None


@dataclass(frozen=True)
class _Null:
    """The statistic's bootstrap distribution on the floor, as a moment-matched gamma."""

    mean: float
    var: float

    def sf(self, t: float) -> float:
        if self.var <= 0 or self.mean <= 0:
            return 1.0 if t <= self.mean else 0.0
        return float(sps.gamma.sf(t, self.mean**2 / self.var, scale=self.var / self.mean))

    def isf(self, alpha: float) -> float:
        if self.var <= 0 or self.mean <= 0:
            return self.mean
        return float(sps.gamma.isf(alpha, self.mean**2 / self.var, scale=self.var / self.mean))


def _seed(seed: int, item: DecisionInput, ref: np.ndarray, cur: np.ndarray) -> np.random.SeedSequence:
    """A seed from the caller's seed and the window itself: the same window, the same draws."""
    text = f"{item.name}|{ref.astype(np.int64).tolist()}|{cur.astype(np.int64).tolist()}"
    return np.random.SeedSequence([seed & 0xFFFFFFFF, zlib.crc32(text.encode())])


def _solve(curve: Callable[[np.ndarray], np.ndarray], target: float, hi: float) -> float:
    """The x in [0, hi] where the increasing ``curve`` reaches ``target`` (hi if it never does).

    Each round evaluates a grid of points in one vectorised call and keeps the cell where the
    curve crosses: 4 rounds of 32 cells resolve x to hi / 32**4, in 4 calls instead of 40.
    """
    if not curve(np.array([hi]))[0] > target:
        return hi
    lo = 0.0
    for _ in range(_ROUNDS):
        xs = np.linspace(lo, hi, _GRID)
        above = np.nonzero(curve(xs) >= target)[0]
        k = int(above[0]) if above.size else _GRID - 1
        lo, hi = float(xs[max(k - 1, 0)]), float(xs[k])
    return 0.5 * (lo + hi)


def _boundary(
    stat: Statistic, geom: Geometry, p_ref: np.ndarray, p_win: np.ndarray, t: float, floor: float, kind: str
) -> np.ndarray:
    """The window distribution at distance ``floor`` from the reference, in the direction observed."""

    def dist(qs: np.ndarray) -> np.ndarray:
        return stat.batch(np.broadcast_to(p_ref, qs.shape), qs, geom)

    def mix(target: np.ndarray) -> Callable[[np.ndarray], np.ndarray]:
        return lambda xs: (1 - xs[:, None]) * p_ref[None, :] + xs[:, None] * target[None, :]

    if t > floor:
        to_win = mix(p_win)
        return to_win(np.array([_solve(lambda xs: dist(to_win(xs)), floor, 1.0)]))[0]
    # No change above the floor was seen: report the threshold for a canonical change
    # instead (a location-like tilt of the bins, or mass moving toward uniform categories).
    if kind == "numerical":
        z = np.arange(p_ref.size, dtype=float)
        z = (z - z.mean()) / (z.std() or 1.0)

        def tilt(xs: np.ndarray) -> np.ndarray:
            w = p_ref[None, :] * np.exp(xs[:, None] * z[None, :])
            return w / w.sum(axis=1, keepdims=True)

        return tilt(np.array([_solve(lambda xs: dist(tilt(xs)), floor, 20.0)]))[0]
    to_uniform = mix(np.full_like(p_ref, 1.0 / p_ref.size))
    return to_uniform(np.array([_solve(lambda xs: dist(to_uniform(xs)), floor, 1.0)]))[0]


def _null_on_floor(
    stat: Statistic, geom: Geometry, p_ref: np.ndarray, q: np.ndarray, n_ref: int, n_win: int,
    rng: np.random.Generator, replicates: int,
) -> _Null:
    ref_draws = rng.multinomial(n_ref, p_ref / p_ref.sum(), size=replicates).astype(float)
    win_draws = rng.multinomial(n_win, q / q.sum(), size=replicates).astype(float)
    t = stat.batch(ref_draws, win_draws, geom)
    t = t[np.isfinite(t)]
    return _Null(mean=float(t.mean()), var=float(t.var(ddof=1))) if t.size > 1 else _Null(0.0, 0.0)


@dataclass
class _Pending:
    item: DecisionInput | PrecomputedTest
    statistic: str
    floor: float
    value: float | None
    p_value: float | None
    null: _Null | None
    spread: Spread | None = None
    location_p: float | None = None  # the distance's own p-value, before it is combined with the spread's
    column_kind: str = ""
    weights: dict[str, float] = field(default_factory=dict)  # each test's share of the column's level
    rate_tests: list[rates.RateResult] = field(default_factory=list)
    n_window: int = 0


def _rate_tests(item: DecisionInput, kind: str, ref: np.ndarray, cur: np.ndarray) -> list[rates.RateResult]:
    """The kind's rate tests (monitor/drift/rates.py); a test without what it needs is left out."""
    out: list[rates.RateResult | None] = []
    r, w = item.reference, item.window
    if isinstance(item.spec, CategoricalSpec) and kind in ("binary", "categorical"):
        names = [*item.spec.top, "(other)", "(new values)"]
        out.append(rates.shares_test(ref, cur, names, item.rate_floors))
    elif isinstance(r, NumericProfile) and isinstance(w, NumericProfile):
        if kind in ("count", "zero_inflated_count"):
            out.append(rates.rate_test(r, w, item.rate_floors))
        if kind in ("zero_inflated", "zero_inflated_count"):
            out.append(rates.zeros_test(r, w, item.rate_floors))
    return [t for t in out if t is not None]


def _weights(kind: str, tests: list[str]) -> dict[str, float]:
    """The kind's split of the column's level over the tests that run, renormalised."""
    base = defaults.TEST_WEIGHTS[kind]
    total = sum(base[t] for t in tests)
    return {t: base[t] / total for t in tests}


def _evaluate(item: DecisionInput, seed: int, replicates: int) -> _Pending:
    stat = get_statistic(item.statistic or DEFAULT_STATISTIC[item.kind])
    floor = item.floor if item.floor is not None else stat.default_threshold(item.kind)
    ref, cur = counts_of(item.reference), counts_of(item.window)
    n_ref, n_win = int(ref.sum()), int(cur.sum())
    if n_win < item.min_rows or n_ref < item.min_rows:
        return _Pending(item, stat.name, floor, None, None, None)
    kind = item.column_kind or rates.infer_kind(item.reference)
    geom = geometry(item.spec, item.reference)
    t = float(stat.batch(ref[None, :], cur[None, :], geom)[0])
    p_ref, p_win = ref / n_ref, cur / n_win
    q = _boundary(stat, geom, p_ref, p_win, t, floor, item.kind)
    rng = np.random.default_rng(_seed(seed, item, ref, cur))
    null = _null_on_floor(stat, geom, p_ref, q, n_ref, n_win, rng, replicates)
    p = 1.0 if t <= floor else null.sf(t)
    if not np.isfinite(p):
        p = 1.0
    ps = {"location": p}
    spread = None
    if isinstance(item.spec, NumericSpec) and geom.points is not None and item.spread_floor is not None:
        spread = spread_test(ref, cur, geom.points, np.asarray(item.spec.edges, dtype=float), item.spread_floor)
        ps["spread"] = spread.p_value
    extra_tests = _rate_tests(item, kind, ref, cur)
    ps.update({r.test: r.p_value for r in extra_tests})
    weights = _weights(kind, list(ps))
    # weighted Bonferroni: valid whatever the dependence of the tests on the same rows
    combined = min(1.0, *(ps[k] / weights[k] for k in ps))
    return _Pending(item, stat.name, floor, t, combined, null, spread, location_p=p, column_kind=kind,
                    weights=weights, rate_tests=extra_tests, n_window=n_win)


def benjamini_hochberg(p_values: Sequence[float], fdr: float) -> tuple[list[bool], float]:
    """Which p-values BH rejects at level fdr, and the per-test level that decided it."""
    m = len(p_values)
    if m == 0:
        return [], fdr
    order = np.argsort(p_values, kind="stable")
    ranked = np.asarray(p_values, dtype=float)[order]
    passing = np.nonzero(ranked <= fdr * np.arange(1, m + 1) / m)[0]
    k = int(passing[-1]) + 1 if passing.size else 0
    level = fdr * max(k, 1) / m
    rejected = [False] * m
    for i in order[:k]:
        rejected[int(i)] = True
    return rejected, level


def decide(
    items: Sequence[DecisionInput | PrecomputedTest],
    *,
    fdr: float = DEFAULT_FDR,
    seed: int = 0,
    replicates: int = DEFAULT_REPLICATES,
) -> list[Decision]:
    """Decide every column of a run together, controlling the false discovery rate at ``fdr``."""
    if not 0.0 < fdr < 1.0:
        raise ValueError(f"fdr must be in (0, 1), got {fdr}")
    pending: list[_Pending] = []
    for item in items:
        if isinstance(item, PrecomputedTest):
            pending.append(_Pending(item, item.statistic, item.floor, item.value, item.p_value, None))
        else:
            pending.append(_evaluate(item, seed, replicates))
    decided = [i for i, pend in enumerate(pending) if pend.p_value is not None]
    rejected, level = benjamini_hochberg([float(pending[i].p_value) for i in decided], fdr)  # type: ignore[arg-type]
    flagged = {i for i, r in zip(decided, rejected, strict=True) if r}
    out: list[Decision] = []
    for i, pend in enumerate(pending):
        item = pend.item
        if pend.p_value is None:
            status, threshold = "insufficient_data", pend.floor
        else:
            status = "drift" if i in flagged else "ok"
            if isinstance(item, PrecomputedTest):
                threshold = item.threshold
            else:
                threshold = pend.null.isf(level * pend.weights["location"]) if pend.null is not None else pend.floor
        extra: dict[str, Any] = {"level": level}
        if pend.column_kind:
            extra["column_kind"] = pend.column_kind
        # which test made the column drift (the smallest p-value over its share of the level)
        tests_p = {"location": pend.location_p, **({"spread": pend.spread.p_value} if pend.spread else {}),
                   **{r.test: r.p_value for r in pend.rate_tests}}
        if status == "drift" and pend.weights:
            extra["flagged_by"] = min(tests_p, key=lambda k: (tests_p[k] or 1.0) / pend.weights[k])
        if pend.spread is not None and pend.location_p is not None:
            extra.update(spread=pend.spread.value, spread_p=pend.spread.p_value, spread_floor=pend.spread.floor,
                         location_p=pend.location_p,
                         # "flagged on spread" only when the distance alone would not have flagged it
                         spread_flagged=float(status == "drift"
                                              and pend.spread.p_value / pend.weights["spread"] <= level
                                              and pend.location_p / pend.weights["location"] > level))
        for r in pend.rate_tests:
            extra.update({f"{r.test}_change": r.change, f"{r.test}_floor": r.floor, f"{r.test}_p": r.p_value,
                          f"{r.test}_p_floor": r.p_floor})
            if r.cell:
                extra[f"{r.test}_cell"] = r.cell
        mdc: dict[str, float] = {}
        if isinstance(item, DecisionInput) and pend.p_value is not None:
            mdc = detectable.compute(
                fdr / max(len(decided), 1), pend.weights, statistic=pend.statistic, floor=pend.floor,
                location_isf=pend.null.isf if pend.null is not None else None, spread=pend.spread,
                rate_tests=pend.rate_tests, kind=pend.column_kind)
        out.append(
            Decision(
                name=item.name,
                kind=item.kind,
                statistic=pend.statistic,
                value=pend.value,
                threshold=max(float(threshold), pend.floor),
                p_value=pend.p_value,
                drifted=status == "drift",
                status=status,
                floor=pend.floor,
                extra=extra,
                min_detectable=mdc,
                min_detectable_text=detectable.describe(pend.n_window, mdc) if mdc else None,
            )
        )
    return out
