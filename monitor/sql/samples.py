"""Bounded, uniform, deterministic samples of a window or a reference (for the classifier and Evidently).

A sample is the n rows with the smallest seeded hash of a per-row key, so it is a uniform random
draw only if the key differs from row to row. A window's rows carry a request id. A reference may
not: hashing one of its columns would tie every row holding the same value (a count, a category)
and keep or drop them together, so the "random" sample would hold a few values only. Without a
key, a row is keyed by the hash of all its sampled values and its occurrence number among the rows
with the same values: identical rows are interchangeable, so which of them gets which number does
not change the sample, and the draw is uniform whatever the columns hold.

The label is joined to the sampled rows only, after the LIMIT, instead of joining every row of
the window to the labels.

On DuckDB an ORDER BY ... LIMIT is a full sort of every row it is given, all sampled columns with it,
unless the limit is a constant under 0.7% of the rows (its Top-N rule): 20,000 rows of a 1,000,000-row
window were sorted in full (+287 MB of RSS at 13 features; +131 MB now, docs/scale.md). Given the row
count (the window's profile knows it), the query first keeps only the rows whose hash is under a cut
chosen so that about n + 8 sqrt(n) + 64 rows pass, a filter on the streaming scan, and sorts those. The
n smallest hashes of the survivors are the n smallest of all as long as n rows passed (every dropped hash
is larger than every kept one); fewer pass with a probability below 1e-15, and then
`monitor.sql.profiler.sample` runs the query without the cut. So the sample is the same draw, row for row.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from monitor.sql.queries import Dialect, Query, Source, column, labels_relation, relation

LABEL = "__label"  # the expression naming the joined label (monitor.sql.profiler.label_expr's column)
CUT = "cut"  # the parameter holding the hash cut, when the query has one
_HASHES = 2**64  # DuckDB's hash() is a UBIGINT, uniform over [0, 2^64)


def hash_cut(rows: int | None, n: int) -> int | None:
    """The DuckDB hash below which about n + 8 sqrt(n) + 64 of `rows` rows fall (fewer than n: ~1e-15),
    or None when that is most of the rows anyway (nothing to gain: the query sorts them all)."""
    if not rows or rows <= 0:
        return None
    share = (n + 8 * math.sqrt(n) + 64) / rows
    return int(share * _HASHES) if share < 0.5 else None


def _row_hash(d: Dialect, exprs: Sequence[str]) -> str:
    if d.name == "duckdb":
        return f"hash({', '.join(exprs)})"
    return f"FARM_FINGERPRINT(TO_JSON_STRING(STRUCT({', '.join(exprs)})))"


def sample_query(d: Dialect, src: Source, columns: Sequence[tuple[str, str]], key: str | None, n: int,
                 seed: str, rows: int | None = None) -> Query:
    """The n rows with the smallest hash of (key, seed); key None: of (the row's values, occurrence, seed).

    `rows`: how many rows the source holds, if known; on DuckDB it sets the hash cut (see above)."""
    params: dict[str, Any] = {"seed": seed, "n": n}
    cut = hash_cut(rows, n) if d.name == "duckdb" else None
    if cut is not None:
        params[CUT] = cut

    def top(ordered: str) -> str:  # the n smallest __o of `ordered`, under the cut if there is one
        if cut is None:
            return f"{ordered} ORDER BY __o LIMIT {d.p('n')}"
        return f"SELECT * FROM ({ordered}) AS c WHERE __o < {d.p(CUT)} ORDER BY __o LIMIT {d.p('n')}"

    labelled = bool(src.labels_table and src.join_key and src.label_column)
    rel = relation(d, replace(src, labels_table=None), params)
    own = [(alias, expr) for alias, expr in columns if expr != LABEL]
    cols = [f"{column(d, expr)} AS {d.q(alias)}" for alias, expr in own]
    if labelled:
        cols.append(f"r.{d.q(src.request_id)} AS __key")
    if key is not None:
        order = d.hash_order(f"r.{d.q(key)}", "seed")
        inner = top(f"SELECT {', '.join(cols)}, {order} AS __o FROM ({rel}) AS r")
    else:
        values = [d.q(alias) for alias, _ in own] or ["1"]
        hashed = f"SELECT {', '.join(cols)} FROM ({rel}) AS r"
        numbered = (f"SELECT *, ROW_NUMBER() OVER (PARTITION BY __h) AS __k FROM "
                    f"(SELECT *, {_row_hash(d, values)} AS __h FROM ({hashed}) AS h) AS hh")
        order = d.hash_order(f"CONCAT(CAST(__h AS {d.string}), '-', CAST(__k AS {d.string}))", "seed")
        inner = top(f"SELECT *, {order} AS __o FROM ({numbered}) AS k")
    out = []
    for alias, expr in columns:
        out.append(f"l.{d.q(src.label_column or '')} AS {d.q(alias)}" if expr == LABEL and labelled
                   else f"NULL AS {d.q(alias)}" if expr == LABEL else f"s.{d.q(alias)}")
    if not labelled:
        return Query(f"SELECT {', '.join(out)} FROM ({inner}) AS s ORDER BY s.__o", params)
    labels = labels_relation(d, src, params)
    return Query(f"SELECT {', '.join(out)} FROM ({inner}) AS s LEFT JOIN {labels} AS l "
                 f"ON l.{d.q(src.join_key or '')} = s.__key ORDER BY s.__o", params)
