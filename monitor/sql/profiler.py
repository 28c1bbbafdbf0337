"""Profile a window or the reference through any store: SQL pushdown, bounded results only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, fields
from typing import Any

import pandas as pd

from monitor.config import ModelConfig, defaults
from monitor.schema.profile import (
    CategoricalProfile,
    CategoricalSpec,
    Kind,
    NumericProfile,
    NumericSpec,
    Spec,
    WindowProfile,
)
from monitor.sql.base import QueryRunner
from monitor.sql.queries import (
    Query,
    Source,
    categories_query,
    label_expr,
    numeric_spec,
    parse_profile,
    profile_query,
    quantiles_query,
    relation,
    unseen_values_query,
)
from monitor.sql.samples import CUT, sample_query

PREDICTION = "__prediction"  # profile names of the prediction and the label columns
PREDICTED_CLASS = "__predicted_class"
LABEL = "__label"
_MAX_KNOWN = 1000  # categories remembered from the reference; beyond that they count as "other"


def columns(cfg: ModelConfig, *, with_label: bool) -> list[tuple[str, Kind, str]]:
    """Every profiled column as (profile name, kind, SQL expression over the row)."""
    out: list[tuple[str, Kind, str]] = [(f.name, f.kind, f.expr or f.column or f.name) for f in cfg.features]
    if cfg.prediction.probability:
        out.append((PREDICTION, "numerical", cfg.prediction.probability))
    if cfg.prediction.class_column:
        out.append((PREDICTED_CLASS, "categorical", cfg.prediction.class_column))
    if with_label and cfg.labels is not None:
        out.append((LABEL, "categorical", label_expr(cfg.labels.column)))
    return out


def build_specs(store: QueryRunner, src: Source, cols: Sequence[tuple[str, Kind, str]], bins: int, top_k: int) -> dict[str, Spec]:
    """Fix bin edges and category sets from the reference, in SQL."""
    numeric = {name: expr for name, kind, expr in cols if kind == "numerical"}
    specs: dict[str, Spec] = {}
    for part in _quantile_parts(store, src, numeric):
        row = store.query(quantiles_query(store.dialect, src, part, bins))[0]
        for i, (name, expr) in enumerate(part.items()):
            specs[name] = numeric_spec(name, expr, row[f"c{i}_min"], row[f"c{i}_max"], row[f"c{i}_q"])
    for name, kind, expr in cols:
        if kind == "categorical":
            rows = store.query(categories_query(store.dialect, src, expr, _MAX_KNOWN))
            values = tuple(str(r["v"]) for r in rows)
            # More categories than we remember: "unseen" can't be told from "rare", so nothing is unseen.
            known = values if len(values) < _MAX_KNOWN else ()
            specs[name] = CategoricalSpec(name=name, expr=expr, top=values[:top_k], known=known)
    return {name: specs[name] for name, _, _ in cols}




def _quantile_parts(store: QueryRunner, src: Source, numeric: dict[str, str]) -> list[dict[str, str]]:
    """The numeric columns in groups small enough for DuckDB's exact quantiles, which hold every value of
    every column of one query in memory and cannot spill (200 columns of a 50,000-row reference ran a
    128 MB limit out of memory): at most defaults.DUCKDB_QUANTILE_VALUES values a query. The edges are
    the same however the columns are grouped. BigQuery: one query (it bills the columns, not the queries)."""
    if not numeric:
        return []
    names = list(numeric)
    if store.dialect.name != "duckdb" or len(names) == 1:
        return [numeric]
    params: dict[str, Any] = {}
    rows = int(store.query(Query(f"SELECT COUNT(*) AS n FROM ({relation(store.dialect, src, params)}) AS r",
                                 params))[0]["n"])
    per = max(1, defaults.DUCKDB_QUANTILE_VALUES // max(rows, 1))
    return [{n: numeric[n] for n in names[i:i + per]} for i in range(0, len(names), per)]


def profile(store: QueryRunner, src: Source, specs: Sequence[Spec]) -> WindowProfile:
    """One scan of the source for every spec (plus a small lookup of unseen categories, if any)."""
    row = store.query(profile_query(store.dialect, src, specs))[0]
    counted = parse_profile(row, specs, {})
    unseen: dict[str, tuple[str, ...]] = {}
    for spec in specs:
        feature = counted.features[spec.name]
        if isinstance(spec, CategoricalSpec) and isinstance(feature, CategoricalProfile) and feature.unseen:
            rows = store.query(unseen_values_query(store.dialect, src, spec))
            unseen[spec.name] = tuple(str(r["v"]) for r in rows)
    return parse_profile(row, specs, unseen) if unseen else counted


def sample(store: QueryRunner, src: Source, cols: Sequence[tuple[str, str]], key: str | None, n: int,
           seed: str, rows: int | None = None) -> pd.DataFrame:
    """A bounded, uniform, deterministic sample (monitor.sql.samples) for the classifier and the report.

    `rows`, the source's row count if known, lets DuckDB filter by a hash cut instead of sorting every row;
    if fewer than n rows passed it (~1e-15, or rows added since the count), the draw is made without it."""
    q = sample_query(store.dialect, src, cols, key, n, seed, rows)
    frame = store.query_frame(q)
    if CUT in q.params and len(frame) < n:
        frame = store.query_frame(sample_query(store.dialect, src, cols, key, n, seed))
    return frame


def specs_to_json(specs: dict[str, Spec]) -> str:
    return json.dumps({n: asdict(s) for n, s in specs.items()})


def specs_from_json(text: str) -> dict[str, Spec]:
    out: dict[str, Spec] = {}
    for name, d in json.loads(text).items():
        if d["kind"] == "numerical":
            out[name] = NumericSpec(**{**d, "edges": tuple(d["edges"])})
        else:
            out[name] = CategoricalSpec(**{**d, "top": tuple(d["top"]), "known": tuple(d["known"])})
    return out


def fingerprint(cfg: ModelConfig) -> str:
    """Identifies what the reference specs depend on, so a config change re-derives them."""
    basis = json.dumps([columns(cfg, with_label=True), cfg.reference_table, cfg.drift.bins, cfg.drift.top_k])
    return hashlib.sha256(basis.encode()).hexdigest()[:16]


def profile_to_json(p: WindowProfile) -> str:
    return json.dumps(profile_to_dict(p))


def profile_to_dict(p: WindowProfile) -> dict:
    # The profiles are flat (no nested dataclasses): a shallow copy is asdict's result, without its
    # deep copy of every value (a backfill's grouped pass writes thousands of partials).
    return {"rows": p.rows, "features": {n: {k.name: getattr(f, k.name) for k in fields(f)}
                                         for n, f in p.features.items()}}


def profile_from_json(text: str) -> WindowProfile:
    return profile_from_dict(json.loads(text))


def profile_from_dict(raw: dict) -> WindowProfile:
    feats: dict[str, NumericProfile | CategoricalProfile] = {}
    for name, d in raw["features"].items():
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        feats[name] = NumericProfile(**d) if d["kind"] == "numerical" else CategoricalProfile(**d)
    return WindowProfile(rows=raw["rows"], features=feats)


def merge(parts: Sequence[WindowProfile]) -> WindowProfile:
    """The profile of the union of disjoint row sets, from their profiles (in the order given).

    Counts and count vectors add, min and max merge by min and max, mean and variance by Chan's pairwise
    update from each part's (finite count, mean, population variance). A field added to a profile merges
    by its type: an int or a tuple of ints adds up. Names of unseen categories are not additive: left
    empty here (monitor.pipeline.profiles looks them up over the window)."""
    first = parts[0]
    feats = {name: (_merge_numeric([p.features[name] for p in parts]) if isinstance(f, NumericProfile)
                    else _merge_fields(CategoricalProfile, [p.features[name] for p in parts], unseen_values=()))
             for name, f in first.features.items()}
    return WindowProfile(rows=sum(p.rows for p in parts), features=feats)


def _merge_fields(cls: type, ps: Sequence[object], **fixed: object) -> object:
    out: dict[str, object] = {}
    for f in fields(cls):
        vals = [getattr(p, f.name) for p in ps]
        present = [v for v in vals if v is not None]
        if f.name in fixed:
            out[f.name] = fixed[f.name]
        elif f.name in ("min", "max"):
            out[f.name] = (min if f.name == "min" else max)(present) if present else None
        elif isinstance(vals[0], bool) or not isinstance(vals[0], (int, tuple)) or (
                isinstance(vals[0], tuple) and vals[0] and not isinstance(vals[0][0], int)):
            out[f.name] = vals[0]  # names, kinds, category labels: the same in every part
        elif isinstance(vals[0], tuple):
            out[f.name] = tuple(sum(column) for column in zip(*vals, strict=True))
        else:
            out[f.name] = sum(vals)
    return cls(**out)


def _merge_numeric(ps: Sequence[NumericProfile]) -> NumericProfile:
    n, mean, m2 = 0, 0.0, 0.0
    for p in ps:
        k = p.valid
        if k == 0 or p.mean is None:
            continue
        var = p.variance or 0.0
        if n == 0:
            n, mean, m2 = k, p.mean, var * k
            continue
        total = n + k
        delta = p.mean - mean
        mean += delta * k / total
        m2 += var * k + delta * delta * n * k / total
        n = total
    moments = {"mean": mean, "variance": m2 / n} if n else {"mean": None, "variance": None}
    return _merge_fields(NumericProfile, ps, **moments)  # type: ignore[return-value]
