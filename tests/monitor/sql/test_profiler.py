"""The SQL profile (one DuckDB scan) equals the in-memory pandas computation on the same rows."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import datetime, timedelta

import numpy as np
import pandas as pd
import pytest

from monitor.errors import UnsafeIdentifier
from monitor.sql import profiler as profiling
from monitor.sql.queries import DUCKDB, Query, Source, check_identifier, profile_query
from monitor.stores.duckdb import DuckDBStore
from tests.oracle.profile_frame import build_specs as frame_specs
from tests.oracle.profile_frame import profile_frame

T0 = datetime(2026, 11, 1)


def _frame(n: int, seed: int, shift: float = 0.0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    df = pd.DataFrame({
        "request_id": [f"r{seed}-{i}" for i in range(n)],
        "ts": [T0 + timedelta(seconds=int(s)) for s in rng.integers(0, 86_400, n)],
        "model_name": "m",
        "x": rng.normal(shift, 1, n),
        "y": rng.lognormal(0, 1, n),
        "k": rng.integers(0, 1000, n).astype(float),  # integer-valued: tied quantiles
        "c": rng.choice(["a", "b", "c", "d"], n, p=[0.5, 0.3, 0.15, 0.05]),
    })
    return df


@pytest.fixture
def store(tmp_path):  # type: ignore[no-untyped-def]
    s = DuckDBStore(tmp_path / "p.duckdb")
    yield s
    s.close()


def test_sql_profile_equals_pandas(store: DuckDBStore) -> None:
    ref = _frame(5000, 1)
    win = _frame(3000, 2, shift=0.3)
    # Data problems that must reach the profile as data: NaN, inf, NULL and unseen categories.
    win.loc[:9, "x"] = np.nan
    win.loc[10:14, "x"] = np.inf
    win.loc[15:16, "y"] = -np.inf
    win.loc[17:30, "c"] = "zzz"
    win.loc[31:35, "c"] = None
    win.loc[36:40, "x"] = 50.0  # out of the reference range
    store.insert_frame("ref", ref)
    store.insert_frame("logs", win)
    cols = [("x", "numerical", "x"), ("y", "numerical", "y"), ("k", "numerical", "k"), ("c", "categorical", "c")]
    specs = profiling.build_specs(store, Source(table='"ref"'), cols, bins=20, top_k=3)
    expected_specs = frame_specs(ref, [(n, k) for n, k, _ in cols], bins=20, top_k=3)
    for name in ("x", "y", "k"):
        assert np.allclose(specs[name].edges, expected_specs[name].edges, rtol=1e-12)  # type: ignore[union-attr]
    assert specs["c"].top == expected_specs["c"].top  # type: ignore[union-attr]
    src = Source(table='"logs"', timestamp="ts", start=T0, end=T0 + timedelta(days=1), model_column="model_name", model="m")
    got = profiling.profile(store, src, list(specs.values()))
    want = profile_frame(win, specs)
    assert got.rows == want.rows == 3000
    for name in specs:
        g, w = asdict(got.features[name]), asdict(want.features[name])
        for key in g:
            if isinstance(g[key], float) and isinstance(w[key], float):
                assert math.isclose(g[key], w[key], rel_tol=1e-9), (name, key)
            else:
                assert g[key] == w[key], (name, key, g[key], w[key])
    assert got.features["c"].unseen == 14 and got.features["c"].unseen_values == ("zzz",)  # type: ignore[union-attr]
    assert got.features["x"].nulls == 10 and got.features["x"].infinite == 5  # type: ignore[union-attr]


def test_window_filter_keeps_only_the_window_and_model(store: DuckDBStore) -> None:
    df = _frame(100, 3)
    df.loc[:19, "model_name"] = "other"
    df.loc[20:29, "ts"] = T0 + timedelta(days=1)  # the next window: excluded (end is exclusive)
    store.insert_frame("logs", df)
    src = Source(table='"logs"', timestamp="ts", start=T0, end=T0 + timedelta(days=1), model_column="model_name", model="m")
    specs = profiling.build_specs(store, Source(table='"logs"'), [("x", "numerical", "x")], 10, 5)
    assert profiling.profile(store, src, list(specs.values())).rows == 70


@pytest.mark.parametrize("name", ["x; DROP TABLE y", "a`b", 'a"b', "1abc", "", "a b"])
def test_crafted_identifiers_are_refused_before_sql(name: str, store: DuckDBStore) -> None:
    with pytest.raises(UnsafeIdentifier):
        check_identifier(name)
    with pytest.raises(UnsafeIdentifier):
        store.table(name)
    with pytest.raises(UnsafeIdentifier):
        store.insert_frame(name, pd.DataFrame({"a": [1]}))
    assert store.query(Query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $t",
                             {"t": name}))[0]["n"] == 0


@pytest.mark.parametrize("expr", ["x; DROP TABLE y", "x -- comment", "(SELECT 1)", "x` + 1"])
def test_crafted_expressions_are_refused_before_sql(expr: str) -> None:
    from monitor.schema.profile import NumericSpec

    spec = NumericSpec(name="f", expr=expr, edges=(0.0,), ref_min=-1.0, ref_max=1.0)
    with pytest.raises(UnsafeIdentifier):
        profile_query(DUCKDB, Source(table='"t"'), [spec])


def test_profile_query_uses_parameters_not_literals() -> None:
    from monitor.schema.profile import CategoricalSpec

    spec = CategoricalSpec(name="c", expr="c", top=("O'Brien",), known=("O'Brien",))
    q = profile_query(DUCKDB, Source(table='"t"'), [spec])
    values = [x for v in q.params.values() for x in (v if isinstance(v, list) else [v])]
    assert "O'Brien" not in q.sql and "O'Brien" in values


@pytest.mark.parametrize(("known", "other", "unseen"), [(("a", "b", "c"), 2, 1), ((), 3, 0)])
def test_categories_other_and_unseen_and_a_capped_reference(store: DuckDBStore, known: tuple[str, ...],
                                                            other: int, unseen: int) -> None:
    # With the reference's categories remembered, a new one is unseen; with too many to remember
    # (known is empty), everything outside the top K is "other".
    from monitor.schema.profile import CategoricalSpec

    store.insert_frame("w", pd.DataFrame({"c": ["a", "a", "b", "c", "c", "new", None]}))
    spec = CategoricalSpec(name="c", expr="c", top=("a", "b"), known=known)
    got = profiling.profile(store, Source(table='"w"'), [spec]).features["c"]
    assert (got.counts, got.other, got.unseen, got.nulls) == ((2, 1), other, unseen, 1)  # type: ignore[union-attr]
    assert got.unseen_values == (("new",) if unseen else ())  # type: ignore[union-attr]


def test_a_categorical_spec_with_duplicate_values_is_refused() -> None:
    # The DuckDB profile joins on these values: a duplicate would count its rows twice.
    from monitor.schema.profile import CategoricalSpec

    with pytest.raises(ValueError, match="duplicate values in known"):
        CategoricalSpec(name="c", expr="c", top=("a",), known=("a", "a", "b"))


def test_a_reference_with_no_categories_counts_everything_as_other(store: DuckDBStore) -> None:
    from monitor.schema.profile import CategoricalSpec

    store.insert_frame("w", pd.DataFrame({"c": ["a", "b", None]}))
    got = profiling.profile(store, Source(table='"w"'), [CategoricalSpec(name="c", expr="c", top=(), known=())])
    assert (got.features["c"].other, got.features["c"].nulls) == (2, 1)  # type: ignore[union-attr]


def test_an_expression_that_hides_a_subquery_from_one_dialect_is_refused() -> None:
    from monitor.sql.queries import validate_expression

    # BigQuery reads one string literal here; DuckDB would run the subquery.
    sneaky = "x || " + "'" * 3 + "q' || (SELECT max(pw) FROM secrets) || 'z" + "'" * 3
    with pytest.raises(UnsafeIdentifier):
        validate_expression(sneaky)
    with pytest.raises(UnsafeIdentifier):
        validate_expression("x || 'a\\' || (SELECT 1) || '")
    assert validate_expression("fz_max - fz_min") == "fz_max - fz_min"


def test_a_reference_without_finite_values_reports_nothing_out_of_range(store: DuckDBStore) -> None:
    from monitor.schema.profile import NumericSpec

    store.insert_frame("logs", pd.DataFrame({"x": [1.0, 2.0, -1.0]}))
    spec = NumericSpec(name="x", expr="x", edges=(), ref_min=float("nan"), ref_max=float("nan"))
    got = profiling.profile(store, Source(table='"logs"'), [spec]).features["x"]
    assert got.below_range == 0 and got.above_range == 0 and got.bin_counts == (3,)


def test_the_edges_are_the_same_when_the_quantiles_are_split_into_several_queries(
        store: DuckDBStore, monkeypatch: pytest.MonkeyPatch) -> None:
    # DuckDB's exact quantiles hold every value in memory and cannot spill: a wide reference is split so that
    # one query holds at most DUCKDB_QUANTILE_VALUES values. Here 5,000 rows and 6,000 values: one column a query.
    store.insert_frame("ref", _frame(5000, 4))
    cols = [("x", "numerical", "x"), ("y", "numerical", "y"), ("k", "numerical", "k"), ("c", "categorical", "c")]
    whole = profiling.build_specs(store, Source(table='"ref"'), cols, bins=20, top_k=3)
    seen: list[str] = []
    run = store.query
    monkeypatch.setattr(store, "query", lambda q: seen.append(q.sql) or run(q))
    monkeypatch.setattr(profiling.defaults, "DUCKDB_QUANTILE_VALUES", 6000)
    split = profiling.build_specs(store, Source(table='"ref"'), cols, bins=20, top_k=3)
    assert split == whole
    assert sum("quantile_cont" in sql for sql in seen) == 3  # x, y and k apart


def test_an_ungrouped_categorical_profile_has_bounded_code_histograms() -> None:
    # Without bounds, DuckDB 2.0 plans an ungrouped histogram(code) over a materialized copy of every row.
    from monitor.schema.profile import CategoricalSpec

    spec = CategoricalSpec(name="c", expr="c", top=("a", "b"), known=("a", "b", "z"))
    q = profile_query(DUCKDB, Source(table='"t"'), [spec])
    assert "histogram(c0_k.code, $c0_kb)" in q.sql and q.params["c0_kb"] == [0, 1, 2]
