"""The performance counts of a window: one scan, at most `bins` rows, from which every metric is computed."""

from __future__ import annotations

from typing import Any

from monitor.sql.queries import Dialect, Query, Source, _column, label_expr, relation


def label_code(d: Dialect, e: str) -> str:
    """The label as an integer class: label_expr's code (the same forms the label's profile reads: 1/0,
    1.0/0.0, '1'/'0', 'true'/'false' in any case, padded, or a boolean) as a number when it is a whole one.
    Anything else is NULL (counted as unlabelled) instead of a cast error that would stop the run; through a
    double because DuckDB's TRY_CAST('0.7' AS BIGINT) rounds to 1 where BigQuery's SAFE_CAST gives NULL."""
    num = f"{'TRY_CAST' if d.name == 'duckdb' else 'SAFE_CAST'}(({label_expr(e)}) AS {d.double})"
    return f"(CASE WHEN {num} = FLOOR({num}) THEN CAST({num} AS {d.integer}) END)"


def performance_query(d: Dialect, src: Source, probability: str, label: str | None, *, threshold: float,
                      bins: int, positive_class: int, served: str | None = None, group: str | None = None) -> Query:
    """Per probability bin: counts split at the threshold, labelled positives/negatives, Brier sums.

    At most `bins` rows come back; confusion counts, ROC/PR AUC and the CBPE estimate are all
    computed from them (monitor.performance.realized, monitor.performance.estimated). With `served`
    (the logged class column) the confusion counts use the class the model served, the threshold
    where it is NULL; `disagree` counts rows whose served class differs from the threshold's.
    With `group` (an expression over the row: monitor.sql.labels' window index), all that per ``g``.
    """
    params: dict[str, Any] = {"thr": threshold, "bins": bins, "pos": positive_class}
    rel = relation(d, src, params)
    p = f"CAST({_column(d, probability)} AS {d.double})"
    y = "NULL" if label is None else label_code(d, _column(d, label))
    thr, pos = d.p("thr"), d.p("pos")
    up = f"{p} >= {thr}"
    sp = up if served is None else f"COALESCE(CAST({_column(d, served)} AS {d.integer}) = {pos}, {up})"
    g = f", {group} AS g" if group else ""
    inner = f"SELECT {p} AS p, {y} AS y, {sp} AS sp{g} FROM ({rel}) AS r"
    yp = f"(CASE WHEN y IS NULL THEN NULL WHEN y = {pos} THEN 1 ELSE 0 END)"
    sql = (
        ("SELECT g, " if group else "SELECT ") + f"GREATEST(LEAST(CAST(FLOOR(p * {d.p('bins')}) AS {d.integer}), {d.p('bins')} - 1), 0) AS bin, "
        f"COUNT(*) AS n, SUM(CASE WHEN p >= {thr} THEN 1 ELSE 0 END) AS n_above, "
        f"SUM(CASE WHEN p >= {thr} THEN p ELSE 0 END) AS sum_above, "
        f"SUM(CASE WHEN p < {thr} THEN p ELSE 0 END) AS sum_below, "
        f"SUM(CASE WHEN sp THEN 1 ELSE 0 END) AS n_served, "
        f"SUM(CASE WHEN sp <> (p >= {thr}) THEN 1 ELSE 0 END) AS disagree, "
        f"SUM(CASE WHEN {yp} = 1 THEN 1 ELSE 0 END) AS pos, SUM(CASE WHEN {yp} = 0 THEN 1 ELSE 0 END) AS neg, "
        f"SUM(CASE WHEN {yp} = 1 AND sp THEN 1 ELSE 0 END) AS tp, "
        f"SUM(CASE WHEN {yp} = 0 AND sp THEN 1 ELSE 0 END) AS fp, "
        f"SUM(CASE WHEN {yp} = 0 AND NOT sp THEN 1 ELSE 0 END) AS tn, "
        f"SUM(CASE WHEN {yp} = 1 AND NOT sp THEN 1 ELSE 0 END) AS fn, "
        f"SUM(CASE WHEN {yp} IS NOT NULL THEN POWER(p - {yp}, 2) ELSE 0 END) AS brier, "
        f"SUM(CASE WHEN {yp} IS NOT NULL THEN POWER(p - {yp}, 4) ELSE 0 END) AS brier4 "
        f"FROM ({inner}) AS w WHERE p IS NOT NULL AND NOT {d.is_nan('p')} AND NOT {d.is_inf('p')}"
        + (" AND g IS NOT NULL GROUP BY 1, 2 ORDER BY 1, 2" if group else " GROUP BY 1 ORDER BY 1")
    )
    return Query(sql, params)
