"""The queries of `driftline check`: how many values each configured column holds, and their range."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from monitor.sql.queries import Dialect, Query


def _since(d: Dialect, timestamp: str | None) -> tuple[str, dict[str, object]]:
    if timestamp is None:
        return "", {}
    # BigQuery's required partition filter; true of every row pandas could have written.
    return f" WHERE {d.q(timestamp)} >= {d.p('since')}", {"since": datetime(1678, 1, 1)}


def values_query(d: Dialect, table: str, columns: Sequence[str], *, timestamp: str | None = None) -> Query:
    """COUNT(*) as n and, for each column, its non-NULL values as v0, v1, ... (one scan)."""
    counts = ", ".join(f"COUNT({d.q(c)}) AS v{i}" for i, c in enumerate(columns))
    where, params = _since(d, timestamp)
    return Query(f"SELECT COUNT(*) AS n{', ' + counts if counts else ''} FROM {table}{where}", params)


def range_query(d: Dialect, table: str, column: str, low: float, high: float, *, timestamp: str | None = None) -> Query:
    """MIN, MAX and how many values of a column fall outside [low, high]."""
    c = d.q(column)
    where, params = _since(d, timestamp)
    return Query(f"SELECT MIN({c}) AS lo, MAX({c}) AS hi, "
                 f"SUM(CASE WHEN {c} < {d.p('low')} OR {c} > {d.p('high')} THEN 1 ELSE 0 END) AS outside "
                 f"FROM {table}{where}", {**params, "low": low, "high": high})


def distinct_query(d: Dialect, table: str, column: str, limit: int = 20, *, timestamp: str | None = None) -> Query:
    """Up to `limit` distinct non-NULL values of a column, as text."""
    c = d.q(column)
    where, params = _since(d, timestamp)
    where = f"{where} AND {c} IS NOT NULL" if where else f" WHERE {c} IS NOT NULL"
    return Query(f"SELECT DISTINCT CAST({c} AS {d.string}) AS v FROM {table}{where} LIMIT {int(limit)}", params)
