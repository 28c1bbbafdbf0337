"""The in-memory reference implementation of specs and profiles (the SQL profilers must equal it).

Tests and benchmarks use it on pandas frames; the stores compute the same numbers in one
SQL scan. The rules, which the SQL side must follow exactly:

* edges: reference quantiles at i/bins (i = 1..bins-1), numpy 'linear' interpolation (as
  SQL ``quantile_cont``), over finite non-null values, deduplicated to strictly increasing;
* bin i counts finite v with edges[i-1] <= v < edges[i];
* NULL/NaN -> ``nulls``; +-inf -> ``infinite``; min/max/mean/population variance over finite values;
* categories are compared as strings; top-K by count, ties broken by the string's order.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from monitor.config import defaults
from monitor.errors import InsufficientData
from monitor.schema.profile import (
    CategoricalProfile,
    CategoricalSpec,
    FeatureProfile,
    Kind,
    NumericProfile,
    NumericSpec,
    Spec,
    WindowProfile,
)

# 20 equal-mass bins: each holds 5% of the reference, so a shift of 0.1 reference std moves
# about 2% of the mass across each interior edge (visible at 20,000 rows), while a 50,000-row
# reference still puts 2,500 rows in every bin (bin probabilities known to ~2% relative) and
# the null spread of the distances at 200 rows stays small. 40 bins did no better at a matched
# floor (docs/drift-decisions.md).
DEFAULT_BINS = defaults.BINS
DEFAULT_TOP_K = defaults.TOP_K
UNSEEN_EXAMPLES = 5


def _finite_values(series: pd.Series) -> tuple[np.ndarray, int, int]:
    """The finite values of a column, with its null and infinite counts."""
    values = pd.to_numeric(series, errors="coerce").to_numpy(dtype=float, na_value=np.nan)
    nan = np.isnan(values)
    inf = np.isinf(values)
    return values[~(nan | inf)], int(nan.sum()), int(inf.sum())


def quantile_edges(values: np.ndarray, bins: int) -> tuple[float, ...]:
    """Interior edges at the i/bins quantiles, deduplicated to strictly increasing."""
    if values.size == 0:
        return ()
    qs = np.quantile(values, np.arange(1, bins) / bins, method="linear")
    return tuple(float(e) for e in np.unique(qs))


def _category_strings(series: pd.Series) -> pd.Series:
    """Non-null values of a categorical column as strings (the comparison SQL makes)."""
    kept = series[series.notna()]
    if isinstance(kept.dtype, pd.CategoricalDtype):
        kept = kept.astype(object)
    return kept.astype(str)


def _category_counts(series: pd.Series) -> pd.Series:
    """Counts per category string, most frequent first, ties by string order."""
    if isinstance(series.dtype, pd.CategoricalDtype):
        # value_counts on the codes is far cheaper than on an object column of strings
        counts = series.value_counts(dropna=True)
        counts.index = counts.index.astype(object).astype(str)
        counts = counts.groupby(level=0).sum()
    else:
        counts = _category_strings(series).value_counts()
    counts = counts[counts > 0]
    order = sorted(counts.index, key=lambda k: (-int(counts[k]), k))
    return counts.reindex(order)


def build_specs(
    reference: pd.DataFrame,
    features: Sequence[tuple[str, Kind]],
    bins: int = DEFAULT_BINS,
    top_k: int = DEFAULT_TOP_K,
) -> dict[str, Spec]:
    """Fix each feature's bin edges or categories from the reference."""
    specs: dict[str, Spec] = {}
    for name, kind in features:
        column = reference[name]
        if kind == "numerical":
            finite, _, _ = _finite_values(column)
            if finite.size == 0:
                raise InsufficientData(f"feature {name!r}: the reference has no finite values")
            specs[name] = NumericSpec(
                name=name,
                expr=name,
                edges=quantile_edges(finite, bins),
                ref_min=float(finite.min()),
                ref_max=float(finite.max()),
            )
        elif kind == "categorical":
            counts = _category_counts(column)
            known = tuple(sorted(str(k) for k in counts.index))
            specs[name] = CategoricalSpec(
                name=name, expr=name, top=tuple(str(k) for k in counts.index[:top_k]), known=known
            )
        else:
            raise ValueError(f"feature {name!r}: kind must be 'numerical' or 'categorical', not {kind!r}")
    return specs


def profile_numeric(series: pd.Series, spec: NumericSpec) -> NumericProfile:
    """Profile one numerical column on the spec's edges."""
    finite, nulls, infinite = _finite_values(series)
    # side="right" puts v == edges[i-1] in bin i, i.e. edges[i-1] <= v < edges[i]
    idx = np.searchsorted(np.asarray(spec.edges, dtype=float), finite, side="right")
    bin_counts = np.bincount(idx, minlength=spec.bins)
    has = finite.size > 0
    return NumericProfile(
        name=spec.name,
        count=int(series.shape[0]),
        nulls=nulls,
        infinite=infinite,
        min=float(finite.min()) if has else None,
        max=float(finite.max()) if has else None,
        mean=float(finite.mean()) if has else None,
        variance=float(finite.var()) if has else None,
        bin_counts=tuple(int(c) for c in bin_counts),
        below_range=int((finite < spec.ref_min).sum()),
        above_range=int((finite > spec.ref_max).sum()),
        zeros=int((finite == 0).sum()),
        fractional=int((finite != np.floor(finite)).sum()),
    )


def profile_categorical(series: pd.Series, spec: CategoricalSpec) -> CategoricalProfile:
    """Profile one categorical column against the spec's top-K and known set."""
    counts = _category_counts(series)
    by_value = {str(k): int(v) for k, v in counts.items()}
    top = set(spec.top)
    known = set(spec.known)
    other = sum(v for k, v in by_value.items() if k in known and k not in top)
    unseen = [(k, v) for k, v in by_value.items() if k not in known]  # already most frequent first
    return CategoricalProfile(
        name=spec.name,
        count=int(series.shape[0]),
        nulls=int(series.isna().sum()),
        categories=spec.top,
        counts=tuple(by_value.get(c, 0) for c in spec.top),
        other=other,
        unseen=sum(v for _, v in unseen),
        unseen_values=tuple(k for k, _ in unseen[:UNSEEN_EXAMPLES]),
    )


def profile_frame(df: pd.DataFrame, specs: Mapping[str, Spec]) -> WindowProfile:
    """Profile every spec'd column of a frame: what one SQL scan of the window returns."""
    features: dict[str, FeatureProfile] = {}
    for name, spec in specs.items():
        column = df[spec.expr]
        if isinstance(spec, NumericSpec):
            features[name] = profile_numeric(column, spec)
        else:
            features[name] = profile_categorical(column, spec)
    return WindowProfile(rows=int(df.shape[0]), features=features)
