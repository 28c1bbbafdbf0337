"""BigQuery's reference bin edges: exact on a small reference, APPROX_QUANTILES on a large one.

Built from the column expressions monitor.sql.queries.quantiles_query has already rendered; the
threshold travels as the @exact_rows parameter (defaults.EXACT_EDGE_ROWS).
"""

from __future__ import annotations

from collections.abc import Sequence


def bigquery_quantiles(inner: str, fins: Sequence[str], bins: int) -> str:
    """BigQuery's edges in one statement: exact below @exact_rows rows, APPROX_QUANTILES above.

    BigQuery has no exact quantile aggregate; the analytic PERCENTILE_CONT ... OVER () sorts the whole
    reference on one worker and can exceed its resources on a large one. APPROX_QUANTILES is an
    ordinary (distributed) aggregate: above the threshold its edges are used. Only the branch used
    reads the rows (the other's WHERE is false). The tolerance, measured: docs/bigquery.md.
    """
    agg, approx, exact, cut, pick = ["COUNT(*) AS n"], [], [], [], []
    for i, fin in enumerate(fins):
        c = f"c{i}"
        agg += [f"MIN({fin}) AS {c}_min", f"MAX({fin}) AS {c}_max"]
        approx.append(f"APPROX_QUANTILES({fin}, {bins}) AS {c}_a")
        exact.append("[" + ", ".join(f"PERCENTILE_CONT({fin}, {k / bins}) OVER ()" for k in range(1, bins))
                     + f"] AS {c}_e")
        # The inner boundaries (offset 0 is the minimum, `bins` the maximum), by their offsets: the
        # emulator misreads `arr[SAFE_OFFSET(k)]` in this statement as 1-based.
        cut.append(f"ARRAY(SELECT q FROM UNNEST({c}_a) AS q WITH OFFSET o WHERE o BETWEEN 1 AND {bins - 1} "
                   f"ORDER BY o) AS {c}_a")
        pick += [f"s.{c}_min AS {c}_min", f"s.{c}_max AS {c}_max", f"IF(s.n <= @exact_rows, e.{c}_e, a.{c}_a) AS {c}_q"]
    # Each branch reads the rows only when it is the one used: the other's WHERE is false.
    return (f"WITH w AS ({inner}), s AS (SELECT {', '.join(agg)} FROM w), "
            f"q AS (SELECT {', '.join(approx)} FROM w WHERE (SELECT n FROM s) > @exact_rows), "
            f"a AS (SELECT {', '.join(cut)} FROM q), "
            f"e AS (SELECT {', '.join(exact)} FROM w WHERE (SELECT n FROM s) <= @exact_rows LIMIT 1) "
            f"SELECT {', '.join(pick)} FROM s LEFT JOIN e ON TRUE LEFT JOIN a ON TRUE")
