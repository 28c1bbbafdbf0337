"""The BigQuery store against the local emulator: same verdicts as DuckDB, clear errors, safe SQL."""

from __future__ import annotations

import math
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.demo import simulate
from monitor.errors import StoreError, StoreUnavailable, TableNotFound, UnsafeIdentifier
from monitor.pipeline.run import run_window
from monitor.schema.summary import FeatureVerdict, RunSummary
from monitor.sql.profiler import sample
from monitor.sql.queries import Query, Source
from monitor.stores.base import RunRecord
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout, predictions_table
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START, write_config
from tests.monitor.stores.emulator import Emulator

DAY_HIT = START + timedelta(days=5)  # the new tire batch at full strength


@pytest.fixture
def cfg(tmp_path: Path) -> ModelConfig:
    write_config(tmp_path, report="{evidently: false}")
    return load_model_config(tmp_path / "wheel-assembly.yaml")


def _store(client: Any, dataset: str, cfg: ModelConfig | None = None, **kw: Any) -> BigQueryStore:
    layouts = [PredictionsLayout.from_model_config(cfg)] if cfg else []
    return BigQueryStore(client, dataset, layouts=layouts, retries=kw.pop("retries", 1), backoff=0.05,
                         timeout=120, **kw)


@pytest.fixture
def both(cfg: ModelConfig, bq_client: Any, bq_dataset: str) -> Iterator[tuple[DuckDBStore, BigQueryStore]]:
    """The same demo scenario (4,000 reference rows, 6 days x 600 logs, labels) in DuckDB and in BigQuery."""
    logs, labels = simulate.traffic(6, 600, START, scenario="new_tire_batch")
    ref = simulate.reference(4000)
    duck = DuckDBStore(cfg.resolve(cfg.store.path))
    bq = _store(bq_client, bq_dataset, cfg)
    bq.init()
    for store in (duck, bq):
        store.insert_frame(cfg.reference_table, ref)
        store.insert_frame(cfg.predictions.table, logs)
        store.upsert_labels("labels", labels, "request_id")
    yield duck, bq
    duck.close()


def _close(a: float | None, b: float | None) -> bool:
    if a is None or b is None:
        return a is b
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-12)


def _assert_same_run(a: RunSummary, b: RunSummary) -> None:
    assert a.rows == b.rows == 600
    assert {f.name for f in a.features if f.drifted} == {f.name for f in b.features if f.drifted} != set()
    pairs: list[tuple[FeatureVerdict | None, FeatureVerdict | None]] = list(zip(a.features, b.features))
    pairs += [(a.prediction_drift, b.prediction_drift), (a.label_drift, b.label_drift)]
    for x, y in pairs:
        assert x is not None and y is not None
        assert (x.name, x.statistic, x.drifted, x.status) == (y.name, y.statistic, y.drifted, y.status)
        assert _close(x.value, y.value), (x.name, x.value, y.value)
        assert _close(x.p_value, y.p_value), (x.name, x.p_value, y.p_value)
        for stat in ("psi", "ks", "jensenshannon", "chisquare"):
            assert _close(x.extra.get(stat), y.extra.get(stat)), (x.name, stat)
    for name, q in a.data_quality.items():
        r = b.data_quality[name]
        assert q.unseen_values == r.unseen_values and (q.unseen_categories, q.infinite) == (r.unseen_categories, r.infinite)
        assert _close(q.null_rate, r.null_rate) and _close(q.out_of_range_rate, r.out_of_range_rate)


@pytest.mark.slow
def test_the_demo_scenario_gives_the_same_verdicts_on_bigquery_and_duckdb(
        cfg: ModelConfig, both: tuple[DuckDBStore, BigQueryStore]) -> None:
    duck, bq = both
    # Each store fixes its own reference bins from its own SQL: the verdicts and values still agree.
    b = run_window(cfg, bq, DAY_HIT)
    _assert_same_run(run_window(cfg, duck, DAY_HIT), b)
    # The run is stored once, with the bytes its queries processed (0 on the emulator, which does not meter).
    stored = bq.get_run(b.run_id)
    assert stored is not None and stored.bytes_processed == b.extra["bytes_processed"] >= 0
    assert run_window(cfg, bq, DAY_HIT).run_id == b.run_id


def test_init_is_safe_twice_and_partitions_the_logs(cfg: ModelConfig, bq_client: Any, bq_dataset: str) -> None:
    store = _store(bq_client, bq_dataset, cfg)
    store.init()
    store.init()
    t = bq_client.get_table(f"{store.project}.{bq_dataset}.predictions")
    assert t.time_partitioning.field == "ts" and t.time_partitioning.type_ == "HOUR"
    assert t.time_partitioning.expiration_ms == 150 * 86_400_000  # under BigQuery's partitions-per-table limit
    assert t.clustering_fields == ["model_name", "model_version"]
    # The emulator does not keep requirePartitionFilter, so it is checked on the resource init sends.
    sent = predictions_table("p.d.predictions", PredictionsLayout.from_model_config(cfg), [])
    assert sent.require_partition_filter and sent.time_partitioning.field == "ts"
    assert {"fz_max", "fz_min", "tire_type", "probability"} <= {f.name for f in t.schema}  # fz_range's columns
    assert store.exists("driftline_runs") and store.exists("driftline_state") and store.exists("labels")


def test_runs_and_state_round_trip(bq_client: Any, bq_dataset: str) -> None:
    store = _store(bq_client, bq_dataset)
    store.init()
    rec = RunRecord("r1", "m", datetime(2026, 1, 1), datetime(2026, 1, 2), datetime(2026, 1, 2, 1), "ok", "{}", 7)
    assert store.save_run(rec) and not store.save_run(rec)
    assert store.get_run("r1") == rec and list(store.list_runs("m")) == [rec] and store.get_run("nope") is None
    store.put_state("k", "one")
    store.put_state("k", "two")
    assert store.get_state("k") == "two" and store.get_state("missing") is None


def test_the_report_sample_is_bounded_and_deterministic(cfg: ModelConfig, both: tuple[DuckDBStore, BigQueryStore]
                                                        ) -> None:
    _, bq = both
    src = Source(table=bq.table("predictions"), timestamp="ts", start=DAY_HIT - timedelta(days=1), end=DAY_HIT)
    cols = [("fz_mean", "fz_mean"), ("fz_range", "fz_max - fz_min")]
    first = sample(bq, src, cols, "request_id", 100, "run-1")
    assert len(first) == 100 and list(first.columns) == ["fz_mean", "fz_range"]
    assert first.equals(sample(bq, src, cols, "request_id", 100, "run-1"))
    assert not first.equals(sample(bq, src, cols, "request_id", 100, "run-2"))


# -- errors say what to check ---------------------------------------------------------------------


def test_a_missing_table_is_table_not_found(bq_client: Any, bq_dataset: str) -> None:
    store = _store(bq_client, bq_dataset)
    store.init()
    with pytest.raises(TableNotFound, match="driftline init"):
        store.query(Query(f"SELECT COUNT(*) AS n FROM {store.table('nope')}"))
    assert not store.exists("nope")


def test_a_rejected_query_is_a_store_error_naming_the_config(bq_client: Any, bq_dataset: str) -> None:
    store = _store(bq_client, bq_dataset)
    store.init()
    with pytest.raises(StoreError, match="column names") as info:
        store.query(Query(f"SELECT no_such_column FROM {store.table('driftline_runs')}"))
    assert not isinstance(info.value, StoreUnavailable)


def test_a_run_against_a_missing_dataset_fails_clearly_and_writes_nothing(cfg: ModelConfig, bq_client: Any) -> None:
    store = _store(bq_client, "never_created")
    with pytest.raises(TableNotFound):
        run_window(cfg, store, DAY_HIT)


def test_a_server_that_is_down_is_store_unavailable_after_retries(bq_live: Emulator, bq_dataset: str) -> None:
    store = _store(bq_live.client(), bq_dataset, retries=2)
    store.init()
    bq_live.stop()
    try:
        with pytest.raises(StoreUnavailable, match="unreachable"):
            store.get_state("k")
    finally:
        bq_live.start()
    assert store.get_state("k") is None  # and it recovers once the server is back


# -- identifiers never reach SQL ------------------------------------------------------------------


class RecordingClient:
    """Stands in for the BigQuery client only to prove nothing is sent: every call is recorded."""

    project = "driftline-test"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __getattr__(self, name: str) -> Any:
        def record(*args: Any, **kwargs: Any) -> Any:
            self.calls.append(name)
            raise AssertionError(f"{name} was called")

        return record


@pytest.mark.parametrize("bad", ["x; DROP TABLE y", "pred`ictions", "`", "a.b", "x--", ""])
def test_crafted_identifiers_are_refused_before_any_sql_is_sent(bad: str) -> None:
    client = RecordingClient()
    store = BigQueryStore(client, "driftline")  # type: ignore[arg-type]
    import pandas as pd

    # `dataset.table` names a table in another dataset; a table name of four parts is still refused.
    table = "a.b.c.d" if bad == "a.b" else bad
    attempts = [
        lambda: store.table(table),
        lambda: store.exists(table),
        lambda: store.columns(table),
        lambda: store.insert_frame(table, pd.DataFrame({"a": [1]})),
        lambda: store.insert_frame("ok", pd.DataFrame({bad: [1]})),
        lambda: store.upsert_labels("labels", pd.DataFrame({"request_id": ["a"]}), bad),
        lambda: BigQueryStore(client, bad),  # type: ignore[arg-type]
        lambda: BigQueryStore(client, "ds", project=f"p{bad}"),  # type: ignore[arg-type]
    ]
    for attempt in attempts:
        with pytest.raises(UnsafeIdentifier):
            attempt()
    assert client.calls == []


def test_an_ingest_is_one_merge_on_bigquery_and_a_rerun_adds_nothing(cfg: ModelConfig, bq_client: Any, bq_dataset: str,
                                                                       tmp_path: Path) -> None:
    from monitor.pipeline.ingest import ingest

    logs, _ = simulate.traffic(1, 300, START, scenario="none")
    path = tmp_path / "logs.parquet"
    pd.concat([logs, logs.iloc[:50]], ignore_index=True).to_parquet(path, index=False)  # 50 ids twice in the file
    bq = _store(bq_client, bq_dataset, cfg)
    bq.init()
    bq.insert_frame(cfg.predictions.table, logs.iloc[:100])  # a partial earlier load
    report = ingest(bq, cfg, "predictions", path)
    assert (report.rows_read, report.rows_loaded, report.duplicates) == (350, 200, 150)
    count = Query(f"SELECT count(*) AS n, count(DISTINCT request_id) AS d FROM {bq.table(cfg.predictions.table)} "
                  "WHERE ts >= TIMESTAMP '2000-01-01'")
    assert bq.query(count)[0] == {"n": 300, "d": 300}
    assert ingest(bq, cfg, "predictions", path).rows_loaded == 0
    assert bq.query(count)[0] == {"n": 300, "d": 300}
    assert not [t for t in bq_client.list_tables(f"{bq.project}.{bq.dataset}") if t.table_id.startswith("_stage_")]
