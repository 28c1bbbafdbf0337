"""The queries about ingestion itself: rows rejected in a window, labels whose request id was never logged."""

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


def unknown_labels_query(d: Dialect, labels: str, predictions: str, *, timestamp: str, request_id: str,
                         join_key: str) -> Query:
    """Labels whose join key matches no logged prediction."""
    # The filter on the timestamp satisfies BigQuery's required partition filter.
    sql = (f"SELECT COUNT(*) AS n FROM {labels} AS l WHERE NOT EXISTS "
           f"(SELECT 1 FROM {predictions} AS p "
           f"WHERE p.{d.q(timestamp)} >= {d.p('since')} "
           f"AND p.{d.q(request_id)} = l.{d.q(join_key)})")
    return Query(sql, {"since": datetime(1970, 1, 1)})


def time_span_query(d: Dialect, table: str, timestamp: str) -> Query:
    """The first and last timestamp of a table and its row count (the reference's rate of rows)."""
    ts = d.q(timestamp)
    return Query(f"SELECT MIN({ts}) AS first_ts, MAX({ts}) AS last_ts, COUNT(*) AS n FROM {table}", {})
