"""Samples that are samples: uniform draws whatever the columns hold, deterministic, labels joined after."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.demo import simulate
from monitor.pipeline.run import run_window
from monitor.sql.queries import DUCKDB, Source
from monitor.sql import profiler as profiling
from monitor.sql.samples import CUT, hash_cut, sample_query
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config


def _tied(n: int, seed: int) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame({"count": rng.poisson(2.0, n), "level": rng.choice(list("abcdefg"), n),
                         "x": rng.normal(size=n)})


def test_a_keyless_sample_of_tied_values_is_uniform_and_deterministic(tmp_path: Path) -> None:
    store = DuckDBStore(tmp_path / "s.duckdb")
    frame = _tied(50_000, 1)
    store.insert_frame("ref", frame)
    cols = [("count", "count"), ("level", "level")]  # only tied columns: many identical rows
    q = sample_query(DUCKDB, Source(table=store.table("ref")), cols, None, 5000, "run-1")
    first, again = store.query_frame(q), store.query_frame(q)
    assert len(first) == 5000
    pd.testing.assert_frame_equal(first, again)  # deterministic per seed
    for col in ("count", "level"):  # each value's share as in the whole table (within ~4 standard errors)
        full = frame[col].value_counts(normalize=True)
        got = first[col].value_counts(normalize=True).reindex(full.index, fill_value=0.0)
        assert ((got - full).abs() <= 4 * np.sqrt(full * (1 - full) / 5000) + 1e-3).all(), col
    other = store.query_frame(sample_query(DUCKDB, Source(table=store.table("ref")), cols, None, 5000, "run-2"))
    assert not other.equals(first)  # another run draws another sample
    store.close()


def _labelled_day(tmp_path: Path, rows: int) -> tuple[DuckDBStore, Source, pd.DataFrame]:
    """A store holding one day of logged rows and all their labels, and the day's source with labels joined."""
    store = DuckDBStore(tmp_path / "s.duckdb")
    logs, labels = simulate.traffic(1, rows, START, scenario="none")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    src = Source(table=store.table("predictions"), timestamp="ts", start=START, end=START + timedelta(days=1),
                 labels_table=store.table("labels"), join_key="request_id", label_column="label")
    return store, src, labels


def test_labels_are_joined_to_the_sampled_rows(tmp_path: Path) -> None:
    store, src, labels = _labelled_day(tmp_path, 3000)
    q = sample_query(DUCKDB, src, [("id", "request_id"), ("z", "z_mean"), ("label", "__label")], "request_id",
                     500, "r")
    got = store.query_frame(q)
    truth = labels.set_index("request_id")["label"]
    assert len(got) == 500 and got["id"].is_unique
    assert (got["label"].to_numpy() == truth.loc[got["id"]].to_numpy()).all()
    store.close()


@pytest.fixture
def tied_cfg(tmp_path: Path) -> ModelConfig:
    write_config(tmp_path, report="{evidently: false, sample_rows: 5000}", window="{length: 24h, min_rows: 200}")
    return load_model_config(tmp_path / "wheel-assembly.yaml")


def test_a_count_valued_first_feature_and_a_larger_reference_raise_no_multivariate_alarm(
        tied_cfg: ModelConfig) -> None:
    # The case: a 50,000-row reference without request ids whose first feature is a count,
    # a no-change 5,000-row window (AUC 0.786 and a false alarm when the sample was ordered by that feature).
    rng = np.random.default_rng(7)
    ref = simulate.reference(50_000)
    logs, labels = simulate.traffic(1, 5000, START, scenario="none")
    assert "request_id" not in ref.columns and tied_cfg.features[0].name == "step_max"
    ref["step_max"], logs["step_max"] = rng.poisson(3.0, len(ref)), rng.poisson(3.0, len(logs))
    store = DuckDBStore(tied_cfg.resolve(tied_cfg.store.path))
    store.insert_frame(tied_cfg.reference_table, ref)
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    summary = run_window(tied_cfg, store, START + timedelta(days=1))
    assert summary.multivariate is not None and summary.multivariate["n_reference"] == 5000
    assert summary.multivariate["auc"] < 0.55 and not summary.multivariate["drifted"]
    assert not summary.dataset_drift
    store.close()


def test_the_hash_cut_draws_the_same_rows_as_the_full_sort(tmp_path: Path) -> None:
    # DuckDB sorts every row for ORDER BY .. LIMIT n unless n is under 0.7% of them: with the row count
    # known, rows are first filtered by a hash cut. Same draw, row for row, keyed or keyless.
    store, src, labels = _labelled_day(tmp_path, 20_000)
    store.insert_frame("ref", _tied(20_000, 2))
    rows = len(labels)
    cases = [(src, [("id", "request_id"), ("z", "z_mean"), ("label", "__label")], "request_id"),
             (Source(table=store.table("ref")), [("count", "count"), ("level", "level")], None)]
    for source, cols, key in cases:
        full = store.query_frame(sample_query(DUCKDB, source, cols, key, 1000, "s"))
        q = sample_query(DUCKDB, source, cols, key, 1000, "s", rows=rows)
        assert CUT in q.params  # the filtered query, not the full sort
        pd.testing.assert_frame_equal(store.query_frame(q), full)
        pd.testing.assert_frame_equal(profiling.sample(store, source, cols, key, 1000, "s", rows), full)
    store.close()


def test_a_cut_from_an_overstated_row_count_falls_back_to_the_full_draw(tmp_path: Path) -> None:
    # A row count far above the real one sets a cut that lets fewer than n rows through: drawn again, uncut.
    store = DuckDBStore(tmp_path / "s.duckdb")
    store.insert_frame("ref", _tied(5000, 3))
    src, cols = Source(table=store.table("ref")), [("x", "x"), ("level", "level")]
    full = store.query_frame(sample_query(DUCKDB, src, cols, None, 500, "s"))
    assert len(store.query_frame(sample_query(DUCKDB, src, cols, None, 500, "s", rows=10_000_000))) < 500
    pd.testing.assert_frame_equal(profiling.sample(store, src, cols, None, 500, "s", rows=10_000_000), full)
    assert hash_cut(None, 500) is None and hash_cut(900, 500) is None  # most rows pass anyway: no cut
    store.close()
