"""The in-memory profile: the rules the SQL profilers are tested equal to."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from monitor.errors import InsufficientData
from monitor.schema.profile import CategoricalProfile, CategoricalSpec, NumericProfile, NumericSpec
from tests.oracle.profile_frame import DEFAULT_BINS, build_specs, profile_frame, quantile_edges


def test_edges_are_linear_reference_quantiles() -> None:
    rng = np.random.default_rng(1)
    x = rng.normal(size=10_001)
    ref = pd.DataFrame({"x": np.r_[x, np.nan, np.inf, -np.inf]})
    spec = build_specs(ref, [("x", "numerical")], bins=10)["x"]
    assert isinstance(spec, NumericSpec)
    assert spec.edges == pytest.approx(np.quantile(x, np.arange(1, 10) / 10, method="linear"), abs=0)
    assert (spec.ref_min, spec.ref_max) == (x.min(), x.max())
    assert spec.expr == "x" and spec.bins == 10


def test_edges_deduplicate_to_strictly_increasing() -> None:
    values = np.r_[np.zeros(900), np.arange(100)].astype(float)
    edges = quantile_edges(values, 20)
    assert list(edges) == sorted(set(edges))
    assert edges[0] == 0.0 and len(edges) < 19


def test_numeric_profile_follows_the_binning_rules() -> None:
    spec = NumericSpec(name="x", expr="x", edges=(0.0, 1.0), ref_min=-1.0, ref_max=2.0)
    window = pd.DataFrame({"x": [-5.0, -0.5, 0.0, 0.5, 1.0, 3.0, np.nan, None, np.inf, -np.inf]})
    prof = profile_frame(window, {"x": spec}).features["x"]
    assert isinstance(prof, NumericProfile)
    finite = np.array([-5.0, -0.5, 0.0, 0.5, 1.0, 3.0])
    # an edge value belongs to the bin above it: edges[i-1] <= v < edges[i]
    assert prof.bin_counts == (2, 2, 2)
    assert (prof.count, prof.nulls, prof.infinite, prof.valid) == (10, 2, 2, 6)
    assert (prof.min, prof.max) == (-5.0, 3.0)
    assert prof.mean == pytest.approx(finite.mean())
    assert prof.variance == pytest.approx(finite.var(ddof=0))
    assert (prof.below_range, prof.above_range) == (1, 1)


def test_reference_profile_fills_every_bin_about_equally() -> None:
    rng = np.random.default_rng(2)
    ref = pd.DataFrame({"x": rng.lognormal(size=40_000)})
    specs = build_specs(ref, [("x", "numerical")])
    prof = profile_frame(ref, specs).features["x"]
    assert isinstance(prof, NumericProfile)
    assert len(prof.bin_counts) == DEFAULT_BINS
    assert max(abs(c - 40_000 / DEFAULT_BINS) for c in prof.bin_counts) <= 1


def test_strings_in_a_numeric_column_count_as_nulls() -> None:
    spec = NumericSpec(name="x", expr="x", edges=(0.0,), ref_min=-1.0, ref_max=1.0)
    prof = profile_frame(pd.DataFrame({"x": [1, "oops", -1]}), {"x": spec}).features["x"]
    assert isinstance(prof, NumericProfile)
    assert (prof.nulls, prof.bin_counts) == (1, (1, 1))


def test_categorical_spec_top_k_breaks_ties_by_string() -> None:
    ref = pd.DataFrame({"c": ["b"] * 5 + ["a"] * 5 + ["c"] * 3 + ["d"] + [None]})
    spec = build_specs(ref, [("c", "categorical")], top_k=3)["c"]
    assert isinstance(spec, CategoricalSpec)
    assert spec.top == ("a", "b", "c")
    assert spec.known == ("a", "b", "c", "d")


def test_categorical_profile_counts_top_other_unseen_as_strings() -> None:
    spec = CategoricalSpec(name="c", expr="c", top=("1", "2"), known=("1", "2", "3"))
    # integers (a nullable integer column) compare by their string form
    window = pd.DataFrame({"c": pd.array([1, 1, 2, 3, 3, 3, 7, 7, 8, None], dtype="Int64")})
    prof = profile_frame(window, {"c": spec}).features["c"]
    assert isinstance(prof, CategoricalProfile)
    assert prof.counts == (2, 1)
    assert (prof.other, prof.unseen, prof.nulls, prof.count) == (3, 3, 1, 10)
    assert prof.unseen_values == ("7", "8")
    assert prof.vector() == (2, 1, 3, 3)


def test_pandas_categorical_columns_profile_like_strings() -> None:
    values = ["x", "y", "y", "z", None]
    spec = build_specs(pd.DataFrame({"c": values}), [("c", "categorical")])["c"]
    as_obj = profile_frame(pd.DataFrame({"c": values}), {"c": spec})
    as_cat = profile_frame(pd.DataFrame({"c": pd.Categorical(values, categories=["z", "y", "x", "w"])}), {"c": spec})
    assert as_obj == as_cat


def test_a_reference_without_finite_values_is_insufficient() -> None:
    with pytest.raises(InsufficientData, match="'x'"):
        build_specs(pd.DataFrame({"x": [math.nan, math.inf]}), [("x", "numerical")])


def test_an_unknown_kind_is_refused() -> None:
    with pytest.raises(ValueError, match="kind"):
        build_specs(pd.DataFrame({"x": [1.0]}), [("x", "text")])  # type: ignore[list-item]
