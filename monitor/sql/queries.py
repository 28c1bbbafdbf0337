"""The one definition of Driftline's queries, rendered for DuckDB or BigQuery.

Both stores call these builders, so the profile, sample and count queries can never drift
apart between the embedded default and the warehouse. Values always travel as query
parameters; identifiers are checked against a strict pattern before they reach SQL, and
configured feature expressions are parsed (sqlglot) and must be a single scalar expression.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any

from monitor.config import defaults
from monitor.config.common import IDENTIFIER, check_identifier
from monitor.config.expressions import validate_expression
from monitor.schema.profile import CategoricalSpec, NumericSpec, Spec, WindowProfile
from monitor.sql import cumulative
from monitor.sql.edges import bigquery_quantiles

_PROJECT = re.compile(r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")


@dataclass(frozen=True)
class Dialect:
    """The few places where DuckDB and BigQuery SQL differ."""

    name: str
    ident_quote: str
    param_prefix: str
    double: str
    string: str
    integer: str

    def q(self, name: str) -> str:
        check_identifier(name)
        return f"{self.ident_quote}{name}{self.ident_quote}"

    def p(self, name: str) -> str:
        return f"{self.param_prefix}{name}"

    def is_nan(self, e: str) -> str:
        return f"isnan({e})" if self.name == "duckdb" else f"IS_NAN({e})"

    def is_inf(self, e: str) -> str:
        return f"isinf({e})" if self.name == "duckdb" else f"IS_INF({e})"

    def in_array(self, e: str, param: str) -> str:
        if self.name == "duckdb":
            return f"list_contains({self.p(param)}, {e})"
        return f"{e} IN UNNEST({self.p(param)})"

    def bucket(self, ts: str, param: str) -> str:
        """The index of a timestamp's bucket: whole buckets of `param` microseconds since the epoch."""
        if self.name == "duckdb":
            return f"(epoch_us({ts}) // {self.p(param)})"
        return f"DIV(UNIX_MICROS({ts}), {self.p(param)})"

    def hash_order(self, key: str, seed_param: str) -> str:
        """A deterministic pseudo-random order keyed by the row and the run's seed."""
        if self.name == "duckdb":
            return f"hash(CAST({key} AS VARCHAR) || {self.p(seed_param)})"
        return f"FARM_FINGERPRINT(CONCAT(CAST({key} AS STRING), {self.p(seed_param)}))"


DUCKDB = Dialect("duckdb", '"', "$", "DOUBLE", "VARCHAR", "BIGINT")
BIGQUERY = Dialect("bigquery", "`", "@", "FLOAT64", "STRING", "INT64")


@dataclass
class Query:
    """SQL text plus its parameters (name -> value)."""

    sql: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Source:
    """Where a profile reads from: a table, optionally filtered to one model's window.

    ``table`` is already rendered (quoted, possibly project.dataset-qualified) by the store.
    ``label`` joins the labels table so the label can be profiled like any column.
    """

    table: str
    timestamp: str | None = None
    start: datetime | None = None
    end: datetime | None = None
    model_column: str | None = None
    model: str | None = None
    labels_table: str | None = None  # rendered
    join_key: str | None = None  # the labels table's key column
    request_id: str = "request_id"  # the predictions' column it matches
    label_column: str | None = None
    label_time: str | None = None  # the labels' arrival column: only labels from the window's start are read


def label_expr(column: str) -> str:
    """The label as the code '1' or '0' however it is encoded (1/0, 1.0/0.0, '1'/'0', true/false), in both
    dialects: a float reference and int labels must not look like label drift."""
    text = f"LOWER(TRIM(CAST({column} AS STRING)))"
    return (f"CASE WHEN {text} IN ('1', '1.0', 'true') THEN '1' WHEN {text} IN ('0', '0.0', 'false') THEN '0' "
            f"ELSE CAST({column} AS STRING) END")


def relation(d: Dialect, src: Source, params: dict[str, Any]) -> str:
    """A FROM-able subquery: the source rows of the window, the label joined when asked."""
    where: list[str] = []
    if src.timestamp is not None and src.start is not None and src.end is not None:
        # Both bounds on the partition column: BigQuery prunes to the window's partitions.
        ts = f"p.{d.q(src.timestamp)}"
        where.append(f"{ts} >= {d.p('w_start')} AND {ts} < {d.p('w_end')}")
        params["w_start"], params["w_end"] = src.start, src.end
    if src.model_column is not None and src.model is not None:
        where.append(f"p.{d.q(src.model_column)} = {d.p('w_model')}")
        params["w_model"] = src.model
    sql = "SELECT p.*"
    if src.labels_table and src.join_key and src.label_column:
        sql += f", l.{d.q(src.label_column)} AS {d.q('__label')}"
        sql += f" FROM {src.table} AS p LEFT JOIN {labels_relation(d, src, params)} AS l"
        sql += f" ON l.{d.q(src.join_key)} = p.{d.q(src.request_id)}"
    else:
        sql += f" FROM {src.table} AS p"
    if where:
        sql += " WHERE " + " AND ".join(where)
    return sql


def labels_relation(d: Dialect, src: Source, params: dict[str, Any]) -> str:
    """The labels table to join, read only from the window's start when labels carry an arrival time."""
    assert src.labels_table and src.join_key and src.label_column
    if src.label_time is None or src.start is None:
        return src.labels_table
    # A label arrives after its prediction: on a table partitioned by arrival, BigQuery reads
    # only the partitions since the window began, however many days of labels are kept.
    t = d.q(src.label_time)
    params["l_since"] = src.start
    return (f"(SELECT {d.q(src.join_key)}, {d.q(src.label_column)} FROM {src.labels_table} "
            f"WHERE {t} >= {d.p('l_since')} OR {t} IS NULL)")


def column(d: Dialect, expr: str) -> str:
    """A spec's expression as SQL: a quoted column, NULL (missing from the logs), or a checked expression."""
    return _column(d, expr)


def _column(d: Dialect, expr: str) -> str:
    if expr == "NULL":  # a monitored column missing from the logs (monitor.pipeline.run)
        return "NULL"
    return d.q(expr) if IDENTIFIER.match(expr) else f"({validate_expression(expr)})"


def profile_query(d: Dialect, src: Source, specs: Sequence[Spec], *, bucket_us: int | None = None) -> Query:
    """One scan computing every numeric and categorical summary of the specs; with `bucket_us`, one row per
    bucket ``b`` of the source: the mergeable partial profiles of monitor.pipeline.profiles."""
    params: dict[str, Any] = {}
    inner_cols: list[str] = []
    joins: list[str] = []
    aggs: list[str] = ["COUNT(*) AS n"]
    cat_cols: list[str] = []  # DuckDB's coded categories: their inner columns and aggregates
    cat_aggs: list[str] = []
    if bucket_us is not None:
        assert src.timestamp is not None
        params["bucket_us"], aggs = bucket_us, ["w.bkt AS b", *aggs]
        inner_cols.append(f"{d.bucket('r.' + d.q(src.timestamp), 'bucket_us')} AS bkt")
    for i, spec in enumerate(specs):
        c = f"c{i}"
        if isinstance(spec, NumericSpec):
            inner_cols.append(f"CAST({_column(d, spec.expr)} AS {d.double}) AS {c}")
            if d.name == "duckdb":
                # Every statistic an ungrouped count, the bins cumulative counts on the edges: several
                # times cheaper than histogram() (monitor.sql.cumulative, docs/scale.md).
                inner_cols.append(cumulative.finite_column(c))
                aggs += cumulative.numeric_aggregates(c, spec, params)
                continue
            finite = f"({c} IS NOT NULL AND NOT {d.is_nan(c)} AND NOT {d.is_inf(c)})"
            # NaN compares greater than everything in DuckDB, so finite values are binned explicitly.
            fin = f"CASE WHEN {finite} THEN {c} END"
            aggs += [
                f"SUM(CASE WHEN {c} IS NULL OR {d.is_nan(c)} THEN 1 ELSE 0 END) AS {c}_nulls",
                f"SUM(CASE WHEN {d.is_inf(c)} THEN 1 ELSE 0 END) AS {c}_inf",
                f"MIN({fin}) AS {c}_min",
                f"MAX({fin}) AS {c}_max",
                f"AVG({fin}) AS {c}_mean",
                f"VAR_POP({fin}) AS {c}_var",
                # for the zero-share and count-rate tests: plain counts, so they add across buckets
                f"SUM(CASE WHEN {finite} AND {c} = 0 THEN 1 ELSE 0 END) AS {c}_zeros",
                f"SUM(CASE WHEN {finite} AND {c} <> FLOOR({c}) THEN 1 ELSE 0 END) AS {c}_frac",
            ]
            params[f"{c}_lo"], params[f"{c}_hi"] = spec.ref_min, spec.ref_max
            aggs.append(f"SUM(CASE WHEN {finite} AND {c} < {d.p(c + '_lo')} THEN 1 ELSE 0 END) AS {c}_below")
            aggs.append(f"SUM(CASE WHEN {finite} AND {c} > {d.p(c + '_hi')} THEN 1 ELSE 0 END) AS {c}_above")
            # Bin index by a CASE ladder on the reference's edges, counted per bin.
            for b, edge in enumerate(spec.edges):
                params[f"{c}_e{b}"] = float(edge)
            for b in range(spec.bins):
                conds = [finite]
                if b > 0:
                    conds.append(f"{c} >= {d.p(f'{c}_e{b - 1}')}")
                if b < spec.bins - 1:
                    conds.append(f"{c} < {d.p(f'{c}_e{b}')}")
                aggs.append(f"SUM(CASE WHEN {' AND '.join(conds)} THEN 1 ELSE 0 END) AS {c}_b{b}")
        else:
            inner_cols.append(f"CAST({_column(d, spec.expr)} AS {d.string}) AS {c}")
            aggs.append(f"COUNT(*) - COUNT({c}) AS {c}_nulls")
            if d.name == "duckdb":
                # A hash join on the reference's categories codes each row (1..K: the top K, 0: another
                # known one, NULL: unseen) and one bounded histogram counts the codes: about 10 times
                # cheaper than K string comparisons per row (docs/scale.md), and the same counts.
                joins.append(_category_codes(c, spec, params))
                # Bounds 0..K (one bin per code): DuckDB 2.0 plans an ungrouped histogram(x) without bounds
                # as a grouped aggregate over a materialized copy of every input row (the whole window, all
                # profiled columns: +140 MB at 1M rows x 16, docs/scale.md); with bounds it streams.
                params[f"{c}_kb"] = list(range(len(spec.top) + 1))
                cat_cols.append(inner_cols.pop())  # counted in a scan of their own (below)
                cat_aggs += [aggs.pop(), f"histogram({c}_k.code, {d.p(c + '_kb')}) AS {c}_codes", f"COUNT({c}) AS {c}_valid"]
                continue
            for k, cat in enumerate(spec.top):
                params[f"{c}_t{k}"] = cat
                aggs.append(f"COUNT(CASE WHEN {c} = {d.p(f'{c}_t{k}')} THEN 1 END) AS {c}_k{k}")
            params[f"{c}_top"] = list(spec.top)
            known, top = d.in_array(c, f"{c}_known"), d.in_array(c, f"{c}_top")
            if spec.known:
                params[f"{c}_known"] = list(spec.known)
                aggs.append(f"COUNT(CASE WHEN {known} AND NOT {top} THEN 1 END) AS {c}_other")
                aggs.append(f"COUNT(CASE WHEN NOT {known} THEN 1 END) AS {c}_unseen")
            else:  # too many reference categories to remember: the rest is "other", none "unseen"
                aggs.append(f"COUNT(CASE WHEN NOT {top} THEN 1 END) AS {c}_other")
                aggs.append(f"0 AS {c}_unseen")
    rel = relation(d, src, params)
    group = " GROUP BY w.bkt" if bucket_us is not None else ""
    joined = ''.join(' ' + j for j in joins)
    if not cat_cols or src.labels_table or not any(isinstance(s, NumericSpec) for s in specs):
        inner = f"SELECT {', '.join([*inner_cols, *cat_cols]) or '1 AS one'} FROM ({rel}) AS r"
        return Query(f"SELECT {', '.join([*aggs, *cat_aggs])} FROM ({inner}) AS w{joined}{group}", params)
    # The coded categories are counted in a scan of their own, joined on the bucket: a join in the scan of
    # every column would carry all the numerical columns through it (measured 1.4x the whole profile); a
    # window with the labels joined keeps one scan (the join would run twice).
    key = [f"{d.bucket('r.' + d.q(src.timestamp), 'bucket_us')} AS bkt"] if bucket_us is not None else []
    num = f"SELECT {', '.join(inner_cols) or '1 AS one'} FROM ({rel}) AS r"
    cat = f"SELECT {', '.join([*key, *cat_cols])} FROM ({rel}) AS r"
    first = f"SELECT {', '.join(aggs)} FROM ({num}) AS w{group}"
    second = f"SELECT {', '.join((['w.bkt AS b2'] if key else []) + cat_aggs)} FROM ({cat}) AS w{joined}{group}"
    on = " ON x.b = y.b2" if key else " ON true"
    return Query(f"SELECT x.*, y.*{' EXCLUDE (b2)' if key else ''} FROM ({first}) AS x JOIN ({second}) AS y{on}",
                 params)


def _category_codes(c: str, spec: CategoricalSpec, params: dict[str, Any]) -> str:
    """DuckDB: a LEFT JOIN giving column ``c`` its category code (see profile_query)."""
    # Top first, so a top value is counted as such even if a hand-made spec left it out of known;
    # the keys are unique (CategoricalSpec refuses duplicates), so no row is counted twice.
    values = list(dict.fromkeys([*spec.top, *spec.known]))  # known empty (too many): the rest is "other"
    if not values:
        return f"LEFT JOIN (SELECT NULL::VARCHAR AS v, NULL::INTEGER AS code WHERE false) AS {c}_k ON w.{c} = {c}_k.v"
    top = {v: k + 1 for k, v in enumerate(spec.top)}
    params[f"{c}_vals"], params[f"{c}_code"] = values, [top.get(v, 0) for v in values]
    return (f"LEFT JOIN (SELECT unnest({DUCKDB.p(c + '_vals')}) AS v, unnest({DUCKDB.p(c + '_code')}) AS code) "
            f"AS {c}_k ON w.{c} = {c}_k.v")


def unseen_values_query(d: Dialect, src: Source, spec: CategoricalSpec, limit: int = 5) -> Query:
    """The most frequent categories of the window that the reference never saw."""
    params: dict[str, Any] = {"known": list(spec.known), "limit": limit}
    rel = relation(d, src, params)
    c = f"CAST({_column(d, spec.expr)} AS {d.string})"
    sql = (
        f"SELECT v, COUNT(*) AS n FROM (SELECT {c} AS v FROM ({rel}) AS r) AS u "
        f"WHERE v IS NOT NULL AND NOT {d.in_array('v', 'known')} "
        f"GROUP BY v ORDER BY n DESC, v LIMIT {d.p('limit')}"
    )
    return Query(sql, params)


def quantiles_query(d: Dialect, src: Source, spec_exprs: Mapping[str, str], bins: int,
                    exact_rows: int | None = None) -> Query:
    """Reference statistics needed to fix bin edges: min, max and the i/bins quantiles.

    Exact (linear interpolation) in both dialects up to `exact_rows` reference rows
    (defaults.EXACT_EDGE_ROWS), so the same reference gives the same edges in DuckDB and BigQuery;
    it runs once per reference, not per window. Above that, BigQuery takes APPROX_QUANTILES
    (monitor.sql.edges).
    """
    params: dict[str, Any] = {}
    rel = relation(d, src, params)
    cols, aggs = [], []
    fins: list[str] = []
    for i, (_name, expr) in enumerate(spec_exprs.items()):
        c = f"c{i}"
        cols.append(f"CAST({_column(d, expr)} AS {d.double}) AS {c}")
        fin = f"CASE WHEN {c} IS NOT NULL AND NOT {d.is_nan(c)} AND NOT {d.is_inf(c)} THEN {c} END"
        fins.append(fin)
        if d.name == "duckdb":
            probs = ", ".join(str(k / bins) for k in range(1, bins))
            aggs += [f"MIN({fin}) AS {c}_min", f"MAX({fin}) AS {c}_max",
                     f"quantile_cont({fin}, [{probs}]) AS {c}_q"]
    inner = f"SELECT {', '.join(cols)} FROM ({rel}) AS r"
    if d.name == "bigquery":
        params["exact_rows"] = defaults.EXACT_EDGE_ROWS if exact_rows is None else int(exact_rows)
        return Query(bigquery_quantiles(inner, fins, bins), params)
    return Query(f"SELECT {', '.join(aggs)} FROM ({inner}) AS w", params)


def categories_query(d: Dialect, src: Source, expr: str, limit: int) -> Query:
    """A categorical column's values by frequency (the reference's known set and top-K)."""
    params: dict[str, Any] = {"limit": limit}
    rel = relation(d, src, params)
    c = f"CAST({_column(d, expr)} AS {d.string})"
    sql = (
        f"SELECT v, COUNT(*) AS n FROM (SELECT {c} AS v FROM ({rel}) AS r) AS u "
        f"WHERE v IS NOT NULL GROUP BY v ORDER BY n DESC, v LIMIT {d.p('limit')}"
    )
    return Query(sql, params)


def versions_query(d: Dialect, src: Source, version_column: str, limit: int = 20) -> Query:
    """The model versions seen in the window with their row counts, most common first."""
    params: dict[str, Any] = {"limit": limit}
    rel = relation(d, replace(src, labels_table=None), params)
    sql = (f"SELECT CAST({d.q(version_column)} AS {d.string}) AS v, COUNT(*) AS n FROM ({rel}) AS r "
           f"GROUP BY v ORDER BY n DESC, v LIMIT {d.p('limit')}")
    return Query(sql, params)


def _f(v: Any) -> float | None:
    return None if v is None else float(v)


def _i(v: Any) -> int:
    return 0 if v is None else int(v)


def parse_profile(row: Mapping[str, Any], specs: Sequence[Spec], unseen: Mapping[str, tuple[str, ...]]) -> WindowProfile:
    """Turn the one result row of profile_query into a WindowProfile."""
    from monitor.schema.profile import CategoricalProfile, NumericProfile

    n = _i(row["n"])
    out: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        c = f"c{i}"
        if isinstance(spec, NumericSpec):
            out[spec.name] = NumericProfile(
                name=spec.name, count=n, nulls=_i(row[f"{c}_nulls"]), infinite=_i(row[f"{c}_inf"]),
                min=_f(row[f"{c}_min"]), max=_f(row[f"{c}_max"]), mean=_f(row[f"{c}_mean"]),
                variance=_f(row[f"{c}_var"]),
                zeros=_i(row.get(f"{c}_zeros")), fractional=_i(row.get(f"{c}_frac")),
                **_bins(row, c, spec),
            )
        elif f"{c}_codes" in row:
            codes = {int(k): int(v) for k, v in (row[f"{c}_codes"] or {}).items()}
            rest = _i(row[f"{c}_valid"]) - sum(codes.values())  # no code: unseen, or "other" if known was capped
            out[spec.name] = CategoricalProfile(
                name=spec.name, count=n, nulls=_i(row[f"{c}_nulls"]), categories=spec.top,
                counts=tuple(codes.get(k + 1, 0) for k in range(len(spec.top))),
                other=codes.get(0, 0) if spec.known else rest, unseen=rest if spec.known else 0,
                unseen_values=tuple(unseen.get(spec.name, ())),
            )
        else:
            out[spec.name] = CategoricalProfile(
                name=spec.name, count=n, nulls=_i(row[f"{c}_nulls"]), categories=spec.top,
                counts=tuple(_i(row[f"{c}_k{k}"]) for k in range(len(spec.top))),
                other=_i(row[f"{c}_other"]), unseen=_i(row[f"{c}_unseen"]),
                unseen_values=tuple(unseen.get(spec.name, ())),
            )
    return WindowProfile(rows=n, features=out)


def _bins(row: Mapping[str, Any], c: str, spec: NumericSpec) -> dict[str, Any]:
    """Bin, below-range and above-range counts: DuckDB's cumulative counts, or the CASE ladder's columns."""
    if f"{c}_fin" in row:
        return cumulative.cumulative_bins(row, c, spec)
    return {"bin_counts": tuple(_i(row[f"{c}_b{b}"]) for b in range(spec.bins)),
            "below_range": _i(row[f"{c}_below"]), "above_range": _i(row[f"{c}_above"])}


def numeric_spec(name: str, expr: str, lo: Any, hi: Any, quantiles: Sequence[Any] | None) -> NumericSpec:
    """Fix a numeric feature's bins from reference min, max and quantiles (edges strictly increasing)."""
    if lo is None or hi is None:
        return NumericSpec(name=name, expr=expr, edges=(), ref_min=float("nan"), ref_max=float("nan"))
    # Deduplicated to strictly increasing, exactly as tests.oracle.profile_frame.quantile_edges does.
    edges = tuple(sorted({float(q) for q in (quantiles or []) if q is not None}))
    return NumericSpec(name=name, expr=expr, edges=edges, ref_min=float(lo), ref_max=float(hi))
