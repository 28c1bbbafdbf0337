"""A refresh's two questions: how many of each window's predictions have a label now (the cheap one), then
the performance counts of every window whose count moved, all in one grouped scan.

Windows may overlap (a 24h window evaluated every hour), and a grouped scan counts each row in one group.
So the scan groups by **piece**: the windows' boundaries cut their span into non-overlapping pieces, each
row falls in one, and a window's counts are the sum of the pieces it covers (every count here adds). For
windows side by side the pieces are the windows themselves."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.sql.performance import performance_query
from monitor.sql.queries import Dialect, Query, Source, _column, relation

Span = tuple[datetime, datetime]


def pieces(windows: Sequence[Span]) -> tuple[list[Span], list[list[int]]]:
    """The non-overlapping pieces between the windows' boundaries, and for each window the pieces it covers."""
    edges = sorted({t for w in windows for t in w})
    parts = list(zip(edges, edges[1:]))
    return parts, [[k for k, (a, b) in enumerate(parts) if s <= a and b <= e] for s, e in windows]


def labelled_per_piece_query(d: Dialect, src: Source, parts: Sequence[Span], probability: str) -> Query:
    """Labelled predictions (a label and a usable probability, as performance_query counts them) per piece.

    One scan of the span of `src` (its start and end cover every piece); row ``w`` is the index of the
    piece in `parts` (pieces(): they must not overlap). Pieces with no labelled row are absent.
    """
    assert src.timestamp is not None and src.labels_table is not None
    params: dict[str, Any] = {}
    rel = relation(d, src, params)
    ts = d.q(src.timestamp)
    cases = []
    for i, (start, end) in enumerate(parts):
        params[f"s{i}"], params[f"e{i}"] = start, end
        cases.append(f"WHEN t >= {d.p(f's{i}')} AND t < {d.p(f'e{i}')} THEN {i}")
    inner = (f"SELECT {ts} AS t, CAST({_column(d, probability)} AS {d.double}) AS p, {d.q('__label')} AS y "
             f"FROM ({rel}) AS r")
    sql = (f"SELECT CASE {' '.join(cases)} END AS w, COUNT(*) AS labelled FROM ({inner}) AS x "
           f"WHERE y IS NOT NULL AND p IS NOT NULL AND NOT {d.is_nan('p')} AND NOT {d.is_inf('p')} GROUP BY 1")
    return Query(sql, params)


def _piece_index(d: Dialect, ts: str, parts: Sequence[Span], params: dict[str, Any]) -> str:
    cases = []
    for i, (start, end) in enumerate(parts):
        params[f"s{i}"], params[f"e{i}"] = start, end
        cases.append(f"WHEN {ts} >= {d.p(f's{i}')} AND {ts} < {d.p(f'e{i}')} THEN {i}")
    return f"CASE {' '.join(cases)} END"


def performance_per_piece_query(d: Dialect, src: Source, parts: Sequence[Span], probability: str, label: str,
                                **kwargs: Any) -> Query:
    """monitor.sql.performance.performance_query for several pieces in one scan of their span (`src`): its rows
    per piece ``g`` (the index in `parts`, from pieces()) and probability bin. `kwargs`: performance_query's."""
    assert src.timestamp is not None
    params: dict[str, Any] = {}
    g = _piece_index(d, "r." + d.q(src.timestamp), parts, params)
    q = performance_query(d, src, probability, label, group=g, **kwargs)
    return Query(q.sql, {**q.params, **params})
