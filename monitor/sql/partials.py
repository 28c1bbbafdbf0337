"""The cheap question an incremental profile asks first: what each bucket of a window holds now.

Two ways to answer: count the window's rows per bucket (`bucket_counts_query`: one narrow column, any
store), or, on DuckDB, read the per-minute counts that the ingest keeps in `driftline_bucket_counts`,
written in the same transaction as its merge (`bucket_signals_query`: a few rows, not the window's
timestamps). The kept counts are trusted only while their sum equals the table's row count, which DuckDB
answers from its statistics; rows appended by anyone else (a user's own INSERT) break that equality, and
the next ingest's merge counts the table afresh (`reseed_counts_sql`). What they cannot see, like any
count: another writer changing rows in place (an UPDATE of a timestamp) or deleting and inserting as many
rows as it deleted. The logs are append-only by contract (ingest skips stored ids); DuckDB offers no cheap
per-table change counter that would catch those.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from monitor.sql.queries import DUCKDB, Dialect, Query, Source, relation

GRAIN_US = 60_000_000  # the kept counts' grain (a minute): any bucket that is whole minutes is answered
_NO_TIME = -(2**62)  # where a row without a timestamp is counted (in no window, but in the table's total)

COUNTS_DDL = ("CREATE TABLE IF NOT EXISTS driftline_bucket_counts (tbl VARCHAR NOT NULL, minute BIGINT NOT NULL, "
              "n BIGINT NOT NULL, PRIMARY KEY (tbl, minute))")


def counts_key(table: str, ts: str) -> str:
    """The kept counts' key: the table and the timestamp column they count by (two models reading one table
    by different timestamps must not read each other's minutes)."""
    return f"{table}|{ts}"


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


def _minute(ts: str) -> str:
    return f"COALESCE(epoch_us({ts}) // {GRAIN_US}, {_NO_TIME})"


def reseed_counts_sql(tbl: str, table: str, ts: str) -> list[Query]:
    """The kept counts of `table` (rendered) rebuilt from its rows: one narrow scan of its timestamps."""
    return [Query("DELETE FROM driftline_bucket_counts WHERE tbl = $tbl", {"tbl": tbl}),
            Query(f"INSERT INTO driftline_bucket_counts SELECT $tbl, {_minute(DUCKDB.q(ts))} AS m, COUNT(*) "
                  f"FROM {table} GROUP BY m", {"tbl": tbl})]


def _in_sync(table: str) -> str:
    """True when the kept counts of key $tbl add up to the rows of `table` (rendered)."""
    return (f"(SELECT COUNT(*) FROM {table}) = (SELECT COALESCE(SUM(n), 0) FROM driftline_bucket_counts "
            "WHERE tbl = $tbl)")


def in_sync_query(tbl: str, table: str) -> Query:
    """Whether the kept counts add up to the table's rows (``ok``)."""
    return Query(f"SELECT {_in_sync(table)} AS ok", {"tbl": tbl})


def add_counts_sql(tbl: str, stage: str, ts: str) -> Query:
    """Add a staged batch's rows (all of which are being inserted) to the kept counts."""
    return Query(f"INSERT INTO driftline_bucket_counts SELECT $tbl, {_minute(DUCKDB.q(ts))} AS m, COUNT(*) FROM "
                 f"{stage} GROUP BY m ON CONFLICT (tbl, minute) DO UPDATE SET n = driftline_bucket_counts.n + "
                 "excluded.n", {"tbl": tbl})


def bucket_signals_query(tbl: str, table: str, lo_minute: int, hi_minute: int, per_bucket: int) -> Query:
    """The kept counts of minutes [lo, hi) summed per bucket of `per_bucket` minutes (``b``, ``n``), after one
    row (``b`` NULL) whose ``n`` is 1 when the counts add up to the table's rows: one snapshot for both."""
    return Query(
        f"SELECT NULL::BIGINT AS b, CASE WHEN {_in_sync(table)} THEN 1 ELSE 0 END::BIGINT AS n UNION ALL "
        "SELECT minute // $per AS b, SUM(n)::BIGINT AS n FROM driftline_bucket_counts WHERE tbl = $tbl "
        "AND minute >= $lo AND minute < $hi GROUP BY 1 ORDER BY b NULLS FIRST",
        {"tbl": tbl, "lo": lo_minute, "hi": hi_minute, "per": per_bucket})
