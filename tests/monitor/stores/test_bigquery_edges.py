"""BigQuery's reference edges: exact below defaults.EXACT_EDGE_ROWS, APPROX_QUANTILES above, within the stated tolerance."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from monitor.config import ModelConfig, defaults, load_model_config
from monitor.demo import simulate
from monitor.pipeline.run import run_window
from monitor.schema.profile import NumericSpec
from monitor.sql import profiler as profiling
from monitor.sql.queries import Source
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config

# The stated tolerance (docs/bigquery.md): an approximate edge's rank in the reference is within one
# percentage point of the exact edge's, so a bin of 5% holds between 3% and 7% of the reference.
RANK_TOLERANCE = 0.01
COLS = [("x", "numerical", "x"), ("y", "numerical", "y"), ("k", "numerical", "k")]


def _reference(n: int) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    return pd.DataFrame({"x": rng.normal(0, 1, n), "y": rng.lognormal(0, 1, n),
                         "k": rng.integers(0, 1000, n).astype(float)})  # integer-valued: tied quantiles


def _store(client: Any, dataset: str, cfg: ModelConfig | None = None) -> BigQueryStore:
    layouts = [PredictionsLayout.from_model_config(cfg)] if cfg else []
    return BigQueryStore(client, dataset, layouts=layouts, retries=1, backoff=0.05, timeout=60)


def test_above_the_threshold_edges_are_approximate_within_the_tolerance(
        bq_client: Any, bq_dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    ref = _reference(20_000)
    bq = _store(bq_client, bq_dataset)
    bq.init()
    bq.insert_frame("ref", ref)
    src = Source(table=bq.table("ref"))
    exact = profiling.build_specs(bq, src, COLS, bins=20, top_k=5)
    monkeypatch.setattr(defaults, "EXACT_EDGE_ROWS", 10_000)  # the reference is now "large"
    approx = profiling.build_specs(bq, src, COLS, bins=20, top_k=5)
    for name, _, _ in COLS:
        e, a = exact[name], approx[name]
        assert isinstance(e, NumericSpec) and isinstance(a, NumericSpec)
        values = np.sort(ref[name].to_numpy())
        assert np.allclose(e.edges, np.quantile(values, np.arange(1, 20) / 20), rtol=1e-12)  # exact below
        assert (a.ref_min, a.ref_max) == (e.ref_min, e.ref_max)  # min and max stay exact
        assert len(a.edges) == len(e.edges)
        assert a.edges != e.edges or name == "k"  # approximate (integer-valued k lands on the same values)
        # Each approximate edge's rank in the reference is within the tolerance of the exact edge's ...
        rank = np.searchsorted(values, np.asarray(a.edges), side="right") / len(values)
        exact_rank = np.searchsorted(values, np.asarray(e.edges), side="right") / len(values)
        assert np.max(np.abs(rank - exact_rank)) <= RANK_TOLERANCE, (name, rank - exact_rank)
        # ... so every bin holds the exact bin's share of the reference within twice that.
        share, exact_share = np.diff(np.concatenate([[0], rank, [1]])), np.diff(np.concatenate([[0], exact_rank, [1]]))
        assert np.max(np.abs(share - exact_share)) <= 2 * RANK_TOLERANCE, (name, share, exact_share)


@pytest.mark.slow
def test_the_demo_verdicts_are_unchanged_with_approximate_edges(
        tmp_path: Path, bq_client: Any, bq_dataset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    write_config(tmp_path, report="{evidently: false}")
    cfg = load_model_config(tmp_path / "wheel-assembly.yaml")
    logs, labels = simulate.traffic(6, 600, START, scenario="new_tire_batch")
    duck, bq = DuckDBStore(cfg.resolve(cfg.store.path)), _store(bq_client, bq_dataset, cfg)
    bq.init()
    for store in (duck, bq):
        store.insert_frame(cfg.reference_table, simulate.reference(4000))
        store.insert_frame(cfg.predictions.table, logs)
        store.upsert_labels("labels", labels, "request_id")
    monkeypatch.setattr(defaults, "EXACT_EDGE_ROWS", 1000)  # the 4,000-row reference takes APPROX_QUANTILES
    for day in (3, 5):  # before the new tire batch, and at full strength
        a, b = run_window(cfg, duck, START + timedelta(days=day)), run_window(cfg, bq, START + timedelta(days=day))
        assert [(f.name, f.drifted, f.status) for f in a.features] == [(f.name, f.drifted, f.status) for f in b.features]
        assert (a.dataset_drift, a.status) == (b.dataset_drift, b.status)
        for x, y in ((a.prediction_drift, b.prediction_drift), (a.label_drift, b.label_drift)):
            assert x is not None and y is not None and (x.drifted, x.status) == (y.drifted, y.status)
    duck.close()
