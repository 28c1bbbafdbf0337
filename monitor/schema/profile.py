"""What a store returns when it profiles a window: bounded, row-count independent summaries.

A *spec* is fixed once from the reference (bin edges from reference quantiles, the
reference's top categories) and stored, so every window is binned on the same edges.
A *profile* is what one SQL scan of a window (or of the reference) returns for a spec.
Nothing here grows with the number of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["numerical", "categorical"]


@dataclass(frozen=True)
class NumericSpec:
    """How to bin one numerical feature: interior edges from reference quantiles."""

    name: str
    expr: str  # SQL expression over the log row (a validated column or configured expression)
    edges: tuple[float, ...]  # B-1 strictly increasing interior edges -> B bins
    ref_min: float
    ref_max: float
    kind: Kind = "numerical"

    @property
    def bins(self) -> int:
        return len(self.edges) + 1


@dataclass(frozen=True)
class CategoricalSpec:
    """How to count one categorical feature: the reference's top-K and its full category set."""

    name: str
    expr: str
    top: tuple[str, ...]  # counted one by one
    known: tuple[str, ...]  # every category seen in the reference (top included); others are "unseen"
    kind: Kind = "categorical"

    def __post_init__(self) -> None:
        # Counting joins on these values: a duplicate would count its rows twice.
        for field_name, values in (("top", self.top), ("known", self.known)):
            if len(set(values)) != len(values):
                raise ValueError(f"categorical spec {self.name!r}: duplicate values in {field_name}")


Spec = NumericSpec | CategoricalSpec


@dataclass(frozen=True)
class NumericProfile:
    """One numerical feature over one window.

    Bin i counts finite values v with edges[i-1] <= v < edges[i] (bin 0 is (-inf, edges[0]),
    the last bin is [edges[-1], +inf)). NULL and NaN count as ``nulls``; +-inf as ``infinite``;
    neither is in the bins nor in min/max/mean/variance.
    """

    name: str
    count: int  # all rows of the window
    nulls: int
    infinite: int
    min: float | None
    max: float | None
    mean: float | None
    variance: float | None  # population variance of the finite values
    bin_counts: tuple[int, ...]
    below_range: int  # finite values < the reference minimum
    above_range: int  # finite values > the reference maximum
    kind: Kind = "numerical"
    # Counts that add up across time buckets, for the rate tests (monitor/drift/rates.py); None in a
    # profile stored before they existed (then the column's kind is not inferred from them).
    zeros: int | None = None  # finite values equal to 0
    fractional: int | None = None  # finite values that are not whole numbers

    @property
    def valid(self) -> int:
        """Finite, non-null values: the ones in the histogram."""
        return sum(self.bin_counts)


@dataclass(frozen=True)
class CategoricalProfile:
    """One categorical feature over one window: counts of the reference's top-K, other, unseen."""

    name: str
    count: int
    nulls: int
    categories: tuple[str, ...]  # the spec's top-K, in order
    counts: tuple[int, ...]  # one per category
    other: int  # known to the reference but outside its top-K
    unseen: int  # never seen in the reference
    unseen_values: tuple[str, ...] = ()  # a few of the unseen values, most frequent first
    kind: Kind = "categorical"

    @property
    def valid(self) -> int:
        return sum(self.counts) + self.other + self.unseen

    def vector(self) -> tuple[int, ...]:
        """Counts as one vector: top-K, then other, then unseen (comparable across windows)."""
        return (*self.counts, self.other, self.unseen)


FeatureProfile = NumericProfile | CategoricalProfile


@dataclass(frozen=True)
class WindowProfile:
    """Every monitored column of one window (features, prediction, label), from one scan."""

    rows: int
    features: dict[str, FeatureProfile] = field(default_factory=dict)
