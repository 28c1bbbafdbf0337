"""Profile a window or the reference through any store: SQL pushdown, bounded results only."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict

import pandas as pd

from monitor.config import ModelConfig
from monitor.schema.profile import CategoricalProfile, CategoricalSpec, Kind, NumericSpec, Spec, WindowProfile
from monitor.sql.base import QueryRunner
from monitor.sql.queries import (
    Source,
    categories_query,
    numeric_spec,
    parse_profile,
    profile_query,
    quantiles_query,
    unseen_values_query,
)
from monitor.sql.samples import sample_query

PREDICTION = "__prediction"  # profile names of the prediction and the label columns
PREDICTED_CLASS = "__predicted_class"
LABEL = "__label"
_MAX_KNOWN = 1000  # categories remembered from the reference; beyond that they count as "other"


def label_expr(column: str) -> str:
    """The label as the code '1' or '0' however it is encoded (1/0, 1.0/0.0, '1'/'0', true/false), in both
    dialects: a float reference and int labels must not look like label drift."""
    text = f"LOWER(TRIM(CAST({column} AS STRING)))"
    return (f"CASE WHEN {text} IN ('1', '1.0', 'true') THEN '1' WHEN {text} IN ('0', '0.0', 'false') THEN '0' "
            f"ELSE CAST({column} AS STRING) END")


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
    if numeric:
        row = store.query(quantiles_query(store.dialect, src, numeric, bins))[0]
        for i, (name, expr) in enumerate(numeric.items()):
            specs[name] = numeric_spec(name, expr, row[f"c{i}_min"], row[f"c{i}_max"], row[f"c{i}_q"])
    for name, kind, expr in cols:
        if kind == "categorical":
            rows = store.query(categories_query(store.dialect, src, expr, _MAX_KNOWN))
            values = tuple(str(r["v"]) for r in rows)
            # More categories than we remember: "unseen" can't be told from "rare", so nothing is unseen.
            known = values if len(values) < _MAX_KNOWN else ()
            specs[name] = CategoricalSpec(name=name, expr=expr, top=values[:top_k], known=known)
    return {name: specs[name] for name, _, _ in cols}




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
           seed: str) -> pd.DataFrame:
    """A bounded, uniform, deterministic sample (monitor.sql.samples) for the classifier and the report."""
    return store.query_frame(sample_query(store.dialect, src, cols, key, n, seed))


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
    return json.dumps({"rows": p.rows, "features": {n: asdict(f) for n, f in p.features.items()}})


def profile_from_json(text: str) -> WindowProfile:
    from monitor.schema.profile import CategoricalProfile, NumericProfile

    raw = json.loads(text)
    feats: dict[str, NumericProfile | CategoricalProfile] = {}
    for name, d in raw["features"].items():
        d = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        feats[name] = NumericProfile(**d) if d["kind"] == "numerical" else CategoricalProfile(**d)
    return WindowProfile(rows=raw["rows"], features=feats)
