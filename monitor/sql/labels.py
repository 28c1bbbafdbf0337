"""A refresh's two questions: how many of each window's predictions have a label now (the cheap one), then
the performance counts of every window whose count moved, all in one grouped scan."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from monitor.sql.performance import performance_query
from monitor.sql.queries import Dialect, Query, Source, _column, relation


def labelled_per_window_query(d: Dialect, src: Source, windows: Sequence[tuple[datetime, datetime]],
                              probability: str) -> Query:
    """Labelled predictions (a label and a usable probability, as performance_query counts them) per window.

    One scan of the span of `src` (its start and end cover every window); row ``w`` is the index
    of the window in `windows`. Windows with no labelled row are absent.
    """
    assert src.timestamp is not None and src.labels_table is not None
    params: dict[str, Any] = {}
    rel = relation(d, src, params)
    ts = d.q(src.timestamp)
    cases = []
    for i, (start, end) in enumerate(windows):
        params[f"s{i}"], params[f"e{i}"] = start, end
        cases.append(f"WHEN t >= {d.p(f's{i}')} AND t < {d.p(f'e{i}')} THEN {i}")
    inner = (f"SELECT {ts} AS t, CAST({_column(d, probability)} AS {d.double}) AS p, {d.q('__label')} AS y "
             f"FROM ({rel}) AS r")
    sql = (f"SELECT CASE {' '.join(cases)} END AS w, COUNT(*) AS labelled FROM ({inner}) AS x "
           f"WHERE y IS NOT NULL AND p IS NOT NULL AND NOT {d.is_nan('p')} AND NOT {d.is_inf('p')} GROUP BY 1")
    return Query(sql, params)


def _window_index(d: Dialect, ts: str, windows: Sequence[tuple[datetime, datetime]],
                  params: dict[str, Any]) -> str:
    cases = []
    for i, (start, end) in enumerate(windows):
        params[f"s{i}"], params[f"e{i}"] = start, end
        cases.append(f"WHEN {ts} >= {d.p(f's{i}')} AND {ts} < {d.p(f'e{i}')} THEN {i}")
    return f"CASE {' '.join(cases)} END"


def performance_per_window_query(d: Dialect, src: Source, windows: Sequence[tuple[datetime, datetime]],
                                 probability: str, label: str, **kwargs: Any) -> Query:
    """monitor.sql.performance.performance_query for several windows in one scan of their span (`src`): its rows
    per window ``g`` (the index in `windows`) and probability bin. `kwargs`: performance_query's."""
    assert src.timestamp is not None
    params: dict[str, Any] = {}
    g = _window_index(d, "r." + d.q(src.timestamp), windows, params)
    q = performance_query(d, src, probability, label, group=g, **kwargs)
    return Query(q.sql, {**q.params, **params})
