"""Hour partitions on the emulator: `init` makes them, an existing day-partitioned table is left alone, and
`bucket_signals` reads each hour's change signal from INFORMATION_SCHEMA.PARTITIONS instead of a count.

The emulator (bqemulator 1.4) answers INFORMATION_SCHEMA.PARTITIONS with BigQuery's hour ids and each
partition's live row count, but its `last_modified_time` is the table's creation time on every partition
(it does not track writes), so here the signature changes through `total_rows`; on BigQuery the last
write time changes too. It reports no streaming buffer and 0 bytes for every query.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.pipeline.profiles import EPOCH, window_profile
from monitor.sql.partials import bucket_counts_query
from monitor.sql.queries import Source
from monitor.stores.base import BucketSignals
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.conftest import write_config
from tests.monitor.pipeline.test_profiles import _specs, _src, incremental_equals_direct, scanned_buckets
from tests.monitor.sql.test_profiler import T0, _frame
from tests.monitor.stores.recording import RecordingStore

HOUR_US = 3_600_000_000
LOGS = PredictionsLayout(table="logs", timestamp="ts", model_column="model_name", version_column=None,
                         labels_table=None)


@pytest.fixture
def cfg(tmp_path: Path) -> ModelConfig:
    write_config(tmp_path, report="{evidently: false}")
    return load_model_config(tmp_path / "wheel-assembly.yaml")


def _store(client: Any, dataset: str, layout: PredictionsLayout = LOGS) -> RecordingStore:
    return RecordingStore(client, dataset, layouts=[layout], retries=1, backoff=0.05, timeout=60)


@pytest.fixture
def hourly(bq_client: Any, bq_dataset: str) -> RecordingStore:
    """An hour-partitioned logs table holding a day of rows."""
    store = _store(bq_client, bq_dataset)
    store.init()
    store.insert_frame("logs", _frame(2000, 1))
    return store


def _counts(store: BigQueryStore, src: Source) -> dict[int, int]:
    return {int(r["b"]): int(r["n"]) for r in store.query(bucket_counts_query(store.dialect, src, HOUR_US))}


def test_the_signals_are_the_hours_partitions_and_change_only_where_rows_land(hourly: RecordingStore) -> None:
    assert isinstance(hourly, BucketSignals)
    src = replace(_src(hourly), model_column=None, model=None)
    first = hourly.bucket_signals(src, HOUR_US)
    assert first is not None and len(first) == 24
    assert {b: int(s.split("@")[0]) for b, s in first.items()} == _counts(hourly, src)
    assert "INFORMATION_SCHEMA.PARTITIONS" in hourly.sent[-2].sql  # one metadata query, then the check count
    hour5 = (T0 + timedelta(hours=5) - EPOCH) // timedelta(hours=1)
    hourly.insert_frame("logs", _frame(3, 9).assign(ts=T0 + timedelta(hours=5, minutes=1)))
    after = hourly.bucket_signals(src, HOUR_US)
    assert after is not None and {b for b in first if first[b] != after[b]} == {hour5}
    part = hourly.bucket_signals(replace(src, start=T0 + timedelta(hours=3), end=T0 + timedelta(hours=6)), HOUR_US)
    assert part is not None and sorted(part) == [hour5 - 2, hour5 - 1, hour5]  # only the window's hours


def test_no_signals_but_hours_of_an_hour_partitioned_timestamp(hourly: RecordingStore, bq_client: Any,
                                                               bq_dataset: str) -> None:
    src = _src(hourly)
    assert hourly.bucket_signals(src, 24 * HOUR_US) is None  # day buckets: the partitions are hours
    assert hourly.bucket_signals(replace(src, timestamp="other"), HOUR_US) is None
    plain = _store(bq_client, bq_dataset, replace(LOGS, table="unpartitioned"))
    plain.create_table("flat", [("ts", "TIMESTAMP", "NULLABLE"), ("x", "FLOAT64", "NULLABLE")])
    assert plain.bucket_signals(replace(src, table=plain.table("flat")), HOUR_US) is None
    daily = _store(bq_client, bq_dataset, replace(LOGS, table="daily", partitioning="day"))
    daily.init()
    daily.insert_frame("daily", _frame(50, 2))
    assert daily.bucket_signals(replace(src, table=daily.table("daily")), HOUR_US) is None


def test_another_models_rows_change_the_signal_too(hourly: RecordingStore) -> None:
    """Several models in one table: a partition's metadata is every model's rows. Another model's row
    re-profiles this model's hour (over-invalidates); it never hides a change of this model's rows."""
    src = _src(hourly)
    before = hourly.bucket_signals(src, HOUR_US)
    hourly.insert_frame("logs", _frame(1, 7).assign(model_name="other", ts=T0 + timedelta(hours=2, minutes=3)))
    after = hourly.bucket_signals(src, HOUR_US)
    hour2 = (T0 + timedelta(hours=2) - EPOCH) // timedelta(hours=1)
    assert before is not None and after is not None and {b for b in before if before[b] != after[b]} == {hour2}


def test_init_makes_hour_partitions_that_expire_or_day_ones_when_configured(bq_client: Any, bq_dataset: str
                                                                          ) -> None:
    _store(bq_client, bq_dataset).init()
    _store(bq_client, bq_dataset, replace(LOGS, table="kept", expiration_days=None)).init()
    _store(bq_client, bq_dataset, replace(LOGS, table="daily", partitioning="day")).init()
    tp = {n: bq_client.get_table(f"{bq_client.project}.{bq_dataset}.{n}").time_partitioning
          for n in ("logs", "kept", "daily")}
    assert (tp["logs"].type_, tp["logs"].field, tp["logs"].expiration_ms) == ("HOUR", "ts", 150 * 86_400_000)
    assert (tp["kept"].type_, tp["kept"].expiration_ms) == ("HOUR", None)
    assert (tp["daily"].type_, tp["daily"].expiration_ms) == ("DAY", None)


def test_the_config_chooses_the_partitions(tmp_path: Path) -> None:
    write_config(tmp_path, store="{kind: bigquery, project: my-project, dataset: d, partitioning: day, "
                                 "hour_partition_expiration_days: null}")
    lay = PredictionsLayout.from_model_config(load_model_config(tmp_path / "wheel-assembly.yaml"))
    assert (lay.partitioning, lay.expiration_days) == ("day", None)


def test_an_existing_day_partitioned_table_is_left_as_it_is(bq_client: Any, bq_dataset: str,
                                                            caplog: pytest.LogCaptureFixture) -> None:
    old = _store(bq_client, bq_dataset, replace(LOGS, partitioning="day"))
    old.init()
    old.insert_frame("logs", _frame(100, 3))
    with caplog.at_level(logging.WARNING):
        _store(bq_client, bq_dataset).init()  # today's default, hour partitions, meets yesterday's table
    t = bq_client.get_table(f"{bq_client.project}.{bq_dataset}.logs")
    assert t.time_partitioning.type_ == "DAY" and t.num_rows == 100
    assert any("partitioned day on ts, not hour on ts" in r.getMessage() for r in caplog.records)


@pytest.fixture
def hourly_pair(bq_client: Any, bq_dataset: str, bq_live: Any) -> Iterator[tuple[RecordingStore, RecordingStore]]:
    other = f"{bq_dataset}_h"
    stores = (_store(bq_client, bq_dataset), _store(bq_client, other))
    for s in stores:
        s.init()
    yield stores
    bq_client.delete_dataset(f"{bq_live.project}.{other}", delete_contents=True, not_found_ok=True)


def test_a_merged_profile_from_partition_signals_equals_the_direct_one(cfg: ModelConfig,
                                                                       hourly_pair: Any) -> None:
    """The incremental profile's own test (tests/monitor/pipeline/test_profiles.py), on hour partitions:
    the late rows of an hour already profiled are found from its partition's metadata, and no run counts
    the window's rows."""
    inc, _ = hourly_pair
    incremental_equals_direct(cfg, *hourly_pair)
    assert not [q for q in inc.sent if " AS b, COUNT(*) AS n FROM" in q.sql]  # no bucket count
    assert sum("INFORMATION_SCHEMA.PARTITIONS" in q.sql for q in inc.sent) == 3


def test_an_hourly_step_scans_only_the_new_hour(cfg: ModelConfig, hourly: RecordingStore) -> None:
    specs = _specs_for(hourly)
    window = _src(hourly, hours=23)
    window_profile(cfg, hourly, window, specs)
    hourly.sent.clear()
    window_profile(cfg, hourly, replace(window, start=T0 + timedelta(hours=1), end=T0 + timedelta(hours=24)), specs)
    hour23 = (T0 + timedelta(hours=23) - EPOCH) // timedelta(hours=1)
    assert scanned_buckets(hourly) == [[hour23]]
    reads = [q for q in hourly.sent if hourly.table("logs") in q.sql]
    assert reads and all(q.params["w_start"] == T0 + timedelta(hours=23) for q in reads)


def _specs_for(store: RecordingStore) -> list[Any]:
    store.insert_frame("ref", _frame(1000, 5))
    return _specs(store)


def test_streamed_rows_not_yet_in_their_partitions_are_counted(bq_client: Any, bq_dataset: str) -> None:
    """While BigQuery reports a streaming buffer (the emulator's stand-in reports one for any table streamed
    to, tests/monitor/stores/emulator.py), the metadata may miss streamed rows: the store cannot tell."""
    from google.cloud import bigquery

    store = _store(bq_client, bq_dataset)
    store.init()
    ref = f"{store.project}.{bq_dataset}.streamed"
    t = bigquery.Table(ref, schema=[bigquery.SchemaField("ts", "TIMESTAMP"), bigquery.SchemaField("x", "FLOAT64")])
    t.time_partitioning = bigquery.TimePartitioning(type_="HOUR", field="ts")
    bq_client.create_table(t, timeout=10)
    src = Source(table=store.table("streamed"), timestamp="ts", start=T0, end=T0 + timedelta(hours=24))
    row = {"ts": (T0 + timedelta(hours=4, minutes=2)).isoformat(), "x": 1.0}
    assert store.bucket_signals(src, HOUR_US) == {}  # no rows, no buffer: the metadata answers
    assert bq_client.insert_rows_json(ref, [row], retry=bigquery.DEFAULT_RETRY.with_timeout(20), timeout=10) == []
    assert bq_client.get_table(ref).streaming_buffer is not None
    assert store.bucket_signals(src, HOUR_US) is None
