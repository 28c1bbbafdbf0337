"""Loading the monitored models: the config's own validation, then what only the pipeline can check.

`problems` checks a config against the pipeline's registries; `store_problems` checks it against the
store (`driftline check`, the start of every run, and `serve` start-up): every configured column exists
in the reference and the logs with a usable type, the probability lies in [0, 1], the labels table
has its join key and label column, the class values match. Each problem is one line naming the
field, the table and the closest existing column.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from monitor.config import ModelConfig, load_config_dir, load_model_config
from monitor.config.common import IMPORTANT
from monitor.drift.statistics import STATISTICS
from monitor.errors import ConfigError, DriftlineError
from monitor.performance.values import DIRECTION
from monitor.quality import type_family
from monitor.sql.checks import distinct_query, range_query, values_query
from monitor.stores.base import Store


def problems(cfg: ModelConfig) -> list[tuple[str, str]]:
    """(field, message) for every setting that names something the pipeline does not have."""
    out: list[tuple[str, str]] = []

    def statistic(loc: str, name: str | None, kind: str) -> None:
        if name is None:
            return
        stat = STATISTICS.get(name)
        if stat is None:
            out.append((loc, f"unknown statistic {name!r}; valid: {sorted(STATISTICS)}"))
        elif kind not in stat.kinds:
            valid = sorted(n for n, s in STATISTICS.items() if kind in s.kinds)
            out.append((loc, f"statistic {name!r} does not apply to {kind} features; valid: {valid}"))

    statistic("drift.numerical.statistic", cfg.drift.numerical.statistic, "numerical")
    statistic("drift.categorical.statistic", cfg.drift.categorical.statistic, "categorical")
    for i, f in enumerate(cfg.features):
        statistic(f"features.{i}.statistic", f.statistic, f.kind)
    metrics = set(DIRECTION) | {m.rsplit("_", 1)[0] + IMPORTANT for m in DIRECTION if m[-2:] in ("_0", "_1")}
    for name in sorted(set(cfg.performance.floors) - metrics):
        out.append((f"performance.floors.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    rule = cfg.alerts.performance
    for name in sorted((set(rule.on_drop) | set(rule.metrics)) - metrics):
        out.append((f"alerts.performance.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    for name in sorted(set(cfg.alerts.estimated_performance.on_drop) - metrics):
        out.append((f"alerts.estimated_performance.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    return out


def check(cfg: ModelConfig, source: str) -> ModelConfig:
    """The config itself when the pipeline can run it; else ConfigError naming each bad field."""
    found = problems(cfg)
    if found:
        raise ConfigError("\n".join([f"invalid config {source}:", *(f"  {loc}: {msg}" for loc, msg in found)]))
    return cfg


def load_model(path: str | Path, env: dict[str, str] | None = None) -> ModelConfig:
    """One model's YAML, validated by the config and checked against the pipeline's registries."""
    return check(load_model_config(path, env), str(path))


def load_models(directory: str | Path, env: dict[str, str] | None = None) -> dict[str, ModelConfig]:
    """Every *.yaml of a folder, each validated and checked: what the API and the CLI start from."""
    configs = load_config_dir(directory, env)
    for cfg in configs.values():
        check(cfg, f"{directory} (model {cfg.model!r})")
    return configs


@dataclass(frozen=True)
class Problem:
    """One thing wrong between a config and its store; `blocking`: a run cannot mean anything with it."""

    field: str
    message: str
    blocking: bool = False

    def line(self, model: str) -> str:
        return f"{model}: {self.field}: {self.message}"


def _closest(name: str, candidates: Iterable[str]) -> str:
    names = list(candidates)
    # A shortened name (prob for probability) first, then the most similar spelling.
    close = [c for c in names if len(name) >= 3 and (c.startswith(name) or name.startswith(c) and len(c) >= 3)][:1]
    close = close or difflib.get_close_matches(name, names, n=1, cutoff=0.6)
    return f" (closest: {close[0]})" if close else ""


def _columns(store: Store, table: str) -> dict[str, str]:
    getter = getattr(store, "columns", None)
    return getter(table) if getter and store.exists(table) else {}


def store_problems(cfg: ModelConfig, store: Store, *, scan: bool = True) -> list[Problem]:
    """The config against the store's tables; `scan` also reads the values (counts, range, classes)."""
    p, out = cfg.predictions, []
    logged = _columns(store, p.table)
    ref_table = cfg.reference_table
    ref = _columns(store, ref_table)
    if not logged:
        out.append(Problem("predictions.table", f"table {p.table} does not exist yet: run `driftline ingest "
                                                "predictions FILE` or check the name"))
    if not ref and not (cfg.reference.path and cfg.resolve(cfg.reference.path).exists()):
        where = f"; reference.path {cfg.reference.path} does not exist" if cfg.reference.path else ""
        out.append(Problem("reference.table", f"table {ref_table} does not exist{where}"))
    wanted: list[tuple[str, str, str]] = []  # (field, column, kind)
    for i, f in enumerate(cfg.features):
        for col in f.reads:
            wanted.append((f"features.{i} ({f.name})", col, "numerical" if f.expr else f.kind))
    if cfg.prediction.probability:
        wanted.append(("prediction.probability", cfg.prediction.probability, "numerical"))
    if cfg.prediction.class_column:
        wanted.append(("prediction.class", cfg.prediction.class_column, "numerical"))
    counts = _value_counts(store, p.table, logged, [c for _, c, _ in wanted], p.timestamp) if scan else {}
    for field, col, kind in wanted:
        bits, blocking = [], False
        for table, cols in ((ref_table, ref), (p.table, logged)):
            if not cols:
                continue
            if col not in cols:
                bits.append(f"no column {col} in {table}{_closest(col, cols)}")
                # A feature the reference lacks cannot be compared; a prediction column is reported only.
                blocking |= table == ref_table and field.startswith("features.")
            elif kind == "numerical" and type_family(cols[col]) != "number":
                bits.append(f"{col} in {table} is {cols[col]}, not a number")
                blocking |= table == ref_table and field.startswith("features.")
            elif table == p.table and counts.get(col) == 0:
                bits.append(f"{col} has no values in {table}{_closest(col, [c for c in cols if c != col])}")
        if bits:
            out.append(Problem(field, "; ".join(bits), blocking))
    if scan and logged:
        out += _value_problems(cfg, store, logged)
    out += _label_problems(cfg, store, scan)
    return out


def _value_counts(store: Store, table: str, cols: dict[str, str], wanted: list[str], ts: str) -> dict[str, int]:
    present = list(dict.fromkeys(c for c in wanted if c in cols))
    if not cols:
        return {}
    row = store.query(values_query(store.dialect, store.table(table), present,
                                   timestamp=ts if ts in cols else None))[0]
    if not row["n"]:
        return {}  # an empty table says nothing about its columns
    return {c: int(row[f"v{i}"]) for i, c in enumerate(present)}


def _value_problems(cfg: ModelConfig, store: Store, logged: dict[str, str]) -> list[Problem]:
    p, out = cfg.predictions, []
    ts = p.timestamp if p.timestamp in logged else None
    prob = cfg.prediction.probability
    if prob and prob in logged and type_family(logged[prob]) == "number":
        r = store.query(range_query(store.dialect, store.table(p.table), prob, 0.0, 1.0, timestamp=ts))[0]
        if r["outside"]:
            out.append(Problem("prediction.probability", f"{int(r['outside'])} values of {prob} in {p.table} "
                               f"lie outside [0, 1] (min {r['lo']:.3g}, max {r['hi']:.3g}): is it a score or a logit?"))
    classes = {str(cfg.prediction.positive_class), str(cfg.prediction.important_class)}
    col = cfg.prediction.class_column
    if col and col in logged:
        seen = _distinct(store, p.table, col, ts)
        if seen - classes:
            out.append(Problem("prediction.class", f"{col} in {p.table} holds {sorted(seen - classes)[:5]}, not the "
                               f"configured classes {sorted(classes)} (prediction.positive_class, important_class)"))
    return out


def _distinct(store: Store, table: str, col: str, ts: str | None) -> set[str]:
    rows = store.query(distinct_query(store.dialect, store.table(table), col, timestamp=ts))
    return {str(r["v"]).removesuffix(".0") for r in rows}


def _label_problems(cfg: ModelConfig, store: Store, scan: bool) -> list[Problem]:
    lab = cfg.labels
    if lab is None:
        return []
    cols = _columns(store, lab.table)
    if not cols:
        return []  # labels arrive later: not a problem yet
    out = []
    missing = [(f, c) for f, c in (("labels.join_key", lab.join_key), ("labels.column", lab.column)) if c not in cols]
    for field, c in missing:
        out.append(Problem(field, f"no column {c} in {lab.table}{_closest(c, cols)}", blocking=True))
    if scan and not missing:
        classes = {str(cfg.prediction.positive_class), str(cfg.prediction.important_class)}
        seen = _distinct(store, lab.table, lab.column, None)
        if seen - classes:
            out.append(Problem("labels.column", f"{lab.column} in {lab.table} holds {sorted(seen - classes)[:5]}, "
                               f"not the configured classes {sorted(classes)}"))
    return out


def check_models(configs: dict[str, ModelConfig], store_for: Callable[[ModelConfig], Store], *,
                 scan: bool = True) -> list[str]:
    """`driftline check`: one line per problem of every model (none: all is well)."""
    lines = []
    for cfg in configs.values():
        try:
            lines += [x.line(cfg.model) for x in store_problems(cfg, store_for(cfg), scan=scan)]
        except DriftlineError as exc:
            lines.append(f"{cfg.model}: store: {exc}")
    return lines


def require_runnable(cfg: ModelConfig, store: Store) -> None:
    """At the start of a run: ConfigError naming every problem that makes the run meaningless."""
    blocking = [x for x in store_problems(cfg, store, scan=False) if x.blocking]
    if blocking:
        raise ConfigError("; ".join(x.line(cfg.model) for x in blocking) + " (fix the config; `driftline check` lists all)")
