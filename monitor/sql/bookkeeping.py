"""The queries about ingestion itself: rows rejected in a window, ids already stored, a table's time span."""

from __future__ import annotations

from datetime import datetime

from monitor.sql.queries import Dialect, Query

REJECTS_TABLE = "driftline_rejects"


def rejected_rows_query(d: Dialect, rejects: str, model: str, start: datetime, end: datetime) -> Query:
    """Rows of one model's predictions rejected at ingestion for a window (by their timestamp, else ingestion time)."""
    sql = (f"SELECT COALESCE(SUM(rows), 0) AS n FROM {rejects} WHERE model = {d.p('m')} "
           f"AND target = 'predictions' AND ((ts >= {d.p('s')} AND ts < {d.p('e')}) "
           f"OR (ts IS NULL AND ingested_at >= {d.p('s')} AND ingested_at < {d.p('e')}))")
    return Query(sql, {"m": model, "s": start, "e": end})


def time_span_query(d: Dialect, table: str, timestamp: str) -> Query:
    """The first and last timestamp of a table and its row count (the reference's rate of rows)."""
    ts = d.q(timestamp)
    return Query(f"SELECT MIN({ts}) AS first_ts, MAX({ts}) AS last_ts, COUNT(*) AS n FROM {table}", {})


def _among(d: Dialect, column: str) -> str:
    # A semi-join on the unnested list (a hash join in both stores), not a per-row list scan.
    col = f"CAST({d.q(column)} AS {d.string})"
    if d.name == "duckdb":
        return f"{col} IN (SELECT UNNEST({d.p('ids')}))"
    return f"{col} IN UNNEST({d.p('ids')})"


def known_ids_query(d: Dialect, table: str, column: str, ids: list[str], *, timestamp: str | None = None) -> Query:
    """Which of `ids` a table already holds in `column` (predictions by request id: nothing is stored twice)."""
    where = _among(d, column)
    params: dict[str, object] = {"ids": ids}
    if timestamp is not None:  # BigQuery's required partition filter; true of every stored row
        where += f" AND {d.q(timestamp)} >= {d.p('since')}"
        params["since"] = datetime(1678, 1, 1)  # before the earliest time pandas can hold
    return Query(f"SELECT DISTINCT CAST({d.q(column)} AS {d.string}) AS id FROM {table} WHERE {where}", params)


def stored_labels_query(d: Dialect, table: str, join_key: str, column: str, ids: list[str]) -> Query:
    """The labels already stored for `ids` (a re-ingest of the same label changes nothing)."""
    return Query(f"SELECT CAST({d.q(join_key)} AS {d.string}) AS id, {d.q(column)} AS label FROM {table} "
                 f"WHERE {_among(d, join_key)}", {"ids": ids})


def first_logged_query(d: Dialect, table: str, timestamp: str, model_column: str, model: str) -> Query:
    """The first logged timestamp of one model (the lower bound of a run's `at`)."""
    ts = d.q(timestamp)
    # the lower bound is BigQuery's required partition filter, true of every stored row
    return Query(f"SELECT MIN({ts}) AS first_ts FROM {table} WHERE {d.q(model_column)} = {d.p('m')} "
                 f"AND {ts} >= {d.p('since')}", {"m": model, "since": datetime(1678, 1, 1)})
def content_version_query(d: Dialect, table: str) -> Query:
    """A table's row count and an order-free checksum of its rows: any append, delete or edit changes one.

    One scan of the table (the reference, kept small); the row hash is the dialect's own (DuckDB HASH of the
    row, BigQuery FARM_FINGERPRINT of its JSON), XORed so the order rows come back in does not matter.
    """
    row_hash = "HASH(r)" if d.name == "duckdb" else "FARM_FINGERPRINT(TO_JSON_STRING(r))"
    return Query(f"SELECT COUNT(*) AS n, CAST(COALESCE(BIT_XOR({row_hash}), 0) AS {d.string}) AS checksum "
                 f"FROM {table} AS r", {})
