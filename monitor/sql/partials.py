"""The cheap question an incremental profile asks first: how many rows each bucket of a window holds now."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.sql.queries import Dialect, Query, Source, relation


def bucket_counts_query(d: Dialect, src: Source, bucket_us: int) -> Query:
    """Rows per bucket (``b``: whole buckets of `bucket_us` microseconds since the epoch) of the window.

    It names only the timestamp (and model) column, so a column store reads one narrow column; the
    logs are append-only (ingest skips ids already stored), so a bucket whose count is unchanged holds
    the rows it held when it was profiled."""
    assert src.timestamp is not None
    params: dict[str, Any] = {"bucket_us": bucket_us}
    rel = relation(d, replace(src, labels_table=None), params)
    b = d.bucket("r." + d.q(src.timestamp), "bucket_us")
    return Query(f"SELECT {b} AS b, COUNT(*) AS n FROM ({rel}) AS r GROUP BY 1 ORDER BY 1", params)
