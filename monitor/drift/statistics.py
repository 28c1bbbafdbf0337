"""Drift statistics computed from two profiles (reference and window), never from rows.

Every statistic is a distance between the reference's and the window's binned
distributions (bin counts for numerical features; top-K + other + unseen counts for
categorical ones). Each is written once, vectorised over rows of count matrices, so the
decision rule (monitor/decision.py) can bootstrap it with the very same code.

    psi            population stability index, proportions clipped at 1e-4 (as Evidently)
    jensenshannon  Jensen-Shannon *distance*, scipy's convention, base 2 (so in [0, 1])
    wasserstein    earth mover's distance between the binned distributions / reference std
    ks             Kolmogorov-Smirnov statistic on the CDFs at the edges, Smirnov asymptotic p
    chisquare      Cohen's w of the 2 x K table, p-value from chi2_contingency (no Yates)
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps
from scipy.special import rel_entr

from monitor.config import defaults
from monitor.errors import UnknownStatistic
from monitor.schema.profile import FeatureProfile, Kind, NumericProfile, NumericSpec, Spec

PSI_EPS = 1e-4


@dataclass(frozen=True)
class StatResult:
    """One statistic's value (a distance, larger is more drift) and its p-value against no change."""

    value: float
    p_value: float | None = None
    extra: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True)
class Geometry:
    """What a statistic needs besides the two count vectors: where the bins sit, the reference std."""

    points: np.ndarray | None = None  # one representative location per bin (numerical only)
    scale: float | None = None  # reference standard deviation


Batch = Callable[[np.ndarray, np.ndarray, Geometry], np.ndarray]
PValue = Callable[[float, np.ndarray, np.ndarray], float]


def counts_of(profile: FeatureProfile) -> np.ndarray:
    """The comparable count vector of a profile (bins, or top-K + other + unseen)."""
    if isinstance(profile, NumericProfile):
        return np.asarray(profile.bin_counts, dtype=float)
    return np.asarray(profile.vector(), dtype=float)


def bin_points(spec: NumericSpec) -> np.ndarray:
    """A representative location per bin: midpoints inside, one neighbour-width out at the tails.

    The outer bins are unbounded; placing their mass one neighbouring bin-width beyond the
    outer edge (clipped to the reference range) is close to the tail centroid for smooth
    shapes (normal: -2.01 vs -2.06 for 20 bins) and conservative for heavy tails.
    """
    e = np.asarray(spec.edges, dtype=float)
    if e.size == 0:
        return np.array([0.5 * (spec.ref_min + spec.ref_max)])
    if e.size == 1:
        return np.array([0.5 * (spec.ref_min + e[0]), 0.5 * (e[0] + spec.ref_max)])
    inner = 0.5 * (e[:-1] + e[1:])
    first = max(spec.ref_min, e[0] - (e[1] - e[0]))
    last = min(spec.ref_max, e[-1] + (e[-1] - e[-2]))
    return np.concatenate([[min(first, e[0])], inner, [max(last, e[-1])]])


def geometry(spec: Spec, ref: FeatureProfile) -> Geometry:
    """The fixed geometry of a feature, from its spec and the reference profile."""
    if isinstance(spec, NumericSpec) and isinstance(ref, NumericProfile):
        var = ref.variance or 0.0
        return Geometry(points=bin_points(spec), scale=float(np.sqrt(var)) if var > 0 else None)
    return Geometry()


def _proportions(counts: np.ndarray) -> np.ndarray:
    total = counts.sum(axis=-1, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, counts / np.where(total > 0, total, 1.0), np.nan)


def psi_batch(ref: np.ndarray, cur: np.ndarray, geom: Geometry) -> np.ndarray:
    """PSI = sum (q - p) ln(q / p) over bins, proportions clipped below at 1e-4."""
    p = np.clip(_proportions(ref), PSI_EPS, None)
    q = np.clip(_proportions(cur), PSI_EPS, None)
    return np.sum((q - p) * np.log(q / p), axis=-1)


def jensenshannon_batch(ref: np.ndarray, cur: np.ndarray, geom: Geometry) -> np.ndarray:
    """Jensen-Shannon distance in base 2, as scipy.spatial.distance.jensenshannon(p, q, base=2)."""
    p = _proportions(ref)
    q = _proportions(cur)
    m = 0.5 * (p + q)
    js = 0.5 * (rel_entr(p, m).sum(axis=-1) + rel_entr(q, m).sum(axis=-1)) / np.log(2.0)
    return np.sqrt(np.clip(js, 0.0, None))


def wasserstein_batch(ref: np.ndarray, cur: np.ndarray, geom: Geometry) -> np.ndarray:
    """W1 between the binned distributions (mass at the bin points), divided by the reference std."""
    if geom.points is None:
        raise ValueError("wasserstein needs bin locations: numerical features only")
    gaps = np.diff(geom.points)
    diff = np.cumsum(_proportions(ref) - _proportions(cur), axis=-1)[..., :-1]
    w = np.abs(diff) @ gaps
    return w / geom.scale if geom.scale else np.where(w > 0, np.inf, 0.0)


def ks_batch(ref: np.ndarray, cur: np.ndarray, geom: Geometry) -> np.ndarray:
    """sup |F_ref - F_cur| over the bin edges (a lower bound of the exact K-S statistic)."""
    diff = np.cumsum(_proportions(ref) - _proportions(cur), axis=-1)[..., :-1]
    if diff.shape[-1] == 0:
        return np.zeros(diff.shape[:-1])
    return np.abs(diff).max(axis=-1)


def _chi2(ref: np.ndarray, cur: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Pearson chi-square of the 2 x K table (empty columns ignored) and its grand total."""
    table = np.stack([ref, cur], axis=-2)
    total = table.sum(axis=(-2, -1))
    rows = table.sum(axis=-1, keepdims=True)
    cols = table.sum(axis=-2, keepdims=True)
    with np.errstate(invalid="ignore", divide="ignore"):
        expected = rows * cols / total[..., None, None]
        terms = np.where(expected > 0, (table - expected) ** 2 / np.where(expected > 0, expected, 1.0), 0.0)
    return terms.sum(axis=(-2, -1)), total


def chisquare_batch(ref: np.ndarray, cur: np.ndarray, geom: Geometry) -> np.ndarray:
    """Cohen's w = sqrt(chi2 (1/n_ref + 1/n_cur)): the chi-square effect size, free of the sizes."""
    chi2, _ = _chi2(ref, cur)
    n1 = ref.sum(axis=-1)
    n2 = cur.sum(axis=-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.sqrt(chi2 * (1.0 / n1 + 1.0 / n2))


def ks_p_value(value: float, ref: np.ndarray, cur: np.ndarray) -> float:
    """Smirnov's asymptotic two-sided p-value, as scipy's ks_2samp(method='asymp')."""
    m, n = sorted([float(ref.sum()), float(cur.sum())], reverse=True)
    en = m * n / (m + n)
    return float(np.clip(sps.kstwo.sf(value, np.round(en)), 0.0, 1.0))


def chisquare_p_value(value: float, ref: np.ndarray, cur: np.ndarray) -> float:
    """The chi2_contingency p-value of the 2 x K table, empty columns dropped, no Yates correction."""
    keep = (ref + cur) > 0
    if keep.sum() < 2:
        return 1.0
    return float(sps.chi2_contingency(np.stack([ref[keep], cur[keep]]), correction=False).pvalue)


@dataclass(frozen=True)
class Statistic:
    """A registered drift statistic: its kinds, default practical floor per kind, and its formula."""

    name: str
    kinds: frozenset[str]
    default_floor: Mapping[str, float]  # per kind: changes smaller than this are not drift
    batch: Batch
    p_value: PValue | None = None
    description: str = ""

    def default_threshold(self, kind: Kind) -> float:
        """The default practical floor for this kind (what a config's threshold overrides)."""
        return self.default_floor[kind]

    def compute(self, ref: FeatureProfile, cur: FeatureProfile, spec: Spec) -> StatResult:
        """The statistic between a reference profile and a window profile."""
        if spec.kind not in self.kinds:
            raise ValueError(f"statistic {self.name!r} does not support {spec.kind} features")
        r, c = counts_of(ref), counts_of(cur)
        value = float(self.batch(r[None, :], c[None, :], geometry(spec, ref))[0])
        extra: dict[str, float] = {}
        if self.name == "chisquare":
            chi2, _ = _chi2(r, c)
            extra = {"chi2": float(chi2), "dof": float(((r + c) > 0).sum() - 1)}
        p = self.p_value(value, r, c) if self.p_value is not None and np.isfinite(value) else None
        return StatResult(value=value, p_value=p, extra=extra)


NUM: frozenset[str] = frozenset({"numerical"})
CAT: frozenset[str] = frozenset({"categorical"})
BOTH: frozenset[str] = NUM | CAT

# Floors are the smallest change worth an alarm; see docs/drift-decisions.md for the
# calibration (e.g. wasserstein 0.055 sits between a 0.05 std shift, which should pass, and
# a 0.1 std shift, which should be caught). They are overridable per feature in the config.
STATISTICS: dict[str, Statistic] = {
    "psi": Statistic(
        "psi", BOTH, {"numerical": 0.01, "categorical": 0.02}, psi_batch,
        description="population stability index",
    ),
    "jensenshannon": Statistic(
        "jensenshannon", BOTH, {"numerical": 0.03, "categorical": 0.03}, jensenshannon_batch,
        description="Jensen-Shannon distance (base 2)",
    ),
    "wasserstein": Statistic(
        "wasserstein", NUM, {"numerical": 0.055}, wasserstein_batch,
        description="Wasserstein distance / reference std",
    ),
    "ks": Statistic(
        "ks", NUM, {"numerical": 0.03}, ks_batch, ks_p_value,
        description="Kolmogorov-Smirnov statistic",
    ),
    "chisquare": Statistic(
        "chisquare", CAT, {"categorical": 0.1}, chisquare_batch, chisquare_p_value,
        description="chi-square test, Cohen's w",
    ),
}

DEFAULT_STATISTIC: dict[str, str] = dict(defaults.STATISTIC)


def get_statistic(name: str) -> Statistic:
    """The registered statistic called ``name``; an unknown name lists the valid ones."""
    try:
        return STATISTICS[name]
    except KeyError:
        raise UnknownStatistic(f"unknown statistic {name!r}; choose one of {sorted(STATISTICS)}") from None
