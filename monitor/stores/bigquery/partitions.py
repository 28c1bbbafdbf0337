"""Which hours of a window changed, from BigQuery's partition metadata instead of a count over the window.

An incremental profile (monitor/pipeline/profiles.py) re-profiles only the buckets whose rows changed since
their partial was kept. On DuckDB it counts each bucket's rows (one narrow column of the whole window); on
an hour-partitioned BigQuery table each hour is a partition, and INFORMATION_SCHEMA.PARTITIONS says what
each holds (`total_rows`, and `last_modified_time`, which BigQuery updates on every insert, load, stream or
change of the partition) for the 10 MB minimum, however large the window. The signature is those two:
- several models sharing the table: the partition's rows are every model's, so another model's rows
  change this model's signature too. That re-profiles an hour needlessly, never misses a change.
- none (the caller counts) when the buckets are not hours, the table is not partitioned by the hour on
  the window's timestamp (a day-partitioned table made before hour partitions, left as it is), the
  metadata cannot be read, or BigQuery reports a streaming buffer: rows streamed with insertAll are
  queryable before they reach their partition's metadata, so until BigQuery moves them (minutes, at most
  about 90) the metadata would miss a row streamed into an hour already profiled.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from monitor.errors import StoreError, TableNotFound
from monitor.sql.partition_meta import HOUR_ID, hour_partitions_query
from monitor.sql.queries import Source

if TYPE_CHECKING:
    from monitor.stores.bigquery.schema import PredictionsLayout
    from monitor.stores.bigquery.store import BigQueryStore

log = logging.getLogger(__name__)
EPOCH = datetime(1970, 1, 1)
HOUR = timedelta(hours=1)
HOUR_US = HOUR // timedelta(microseconds=1)


def bucket_signals(store: BigQueryStore, src: Source, bucket_us: int) -> dict[int, str] | None:
    """Hour bucket (hours since the epoch) -> "rows@last write" of its partition; None: count instead."""
    if bucket_us != HOUR_US or src.timestamp is None or src.start is None or src.end is None:
        return None
    parts = src.table.strip("`").split(".")
    table = _resource(store, src.table.strip("`")) if len(parts) == 3 else None
    tp = getattr(table, "time_partitioning", None)
    if tp is None or tp.type_ != "HOUR" or tp.field != src.timestamp:
        return None
    if table.streaming_buffer is not None:
        log.info("%s has rows in its streaming buffer: counting each hour's rows instead", src.table)
        return None
    try:
        rows = store.query(hour_partitions_query(*parts, src.start, src.end))
    except StoreError as exc:  # e.g. no bigquery.tables.list on the logs' dataset: the count still works
        log.warning("reading the partitions of %s failed, counting rows instead: %s", src.table, exc)
        return None
    out: dict[int, str] = {}
    for r in rows:
        try:
            hour = datetime.strptime(str(r["partition_id"]), HOUR_ID)
        except ValueError:  # not an hour partition id: the metadata is not what it claims
            return None
        modified = r["last_modified_time"]
        out[(hour - EPOCH) // HOUR] = f"{int(r['total_rows'])}@{modified.isoformat() if modified else ''}"
    return out


def check_layout(store: BigQueryStore, lay: PredictionsLayout) -> None:
    """Say (never change) when an existing predictions table is partitioned otherwise than configured."""
    table = _resource(store, store._ref(lay.table))
    tp = getattr(table, "time_partitioning", None)
    have = f"{tp.type_.lower()} on {tp.field}" if tp is not None else "unpartitioned"
    if table is not None and have != f"{lay.partitioning} on {lay.timestamp}":
        log.warning("%s is partitioned %s, not %s on %s as configured: left as it is (a table's partitions "
                    "cannot be changed in place); hourly runs then count each hour's rows (docs/bigquery.md)",
                    store._ref(lay.table), have, lay.partitioning, lay.timestamp)


def _resource(store: BigQueryStore, ref: str) -> Any:
    try:
        return store._call(f"looking up table {ref}", lambda: store._client.get_table(ref, **store._no_retry))
    except TableNotFound:
        return None
