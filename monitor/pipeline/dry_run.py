"""`driftline run --dry-run`: the bytes a run would process, from dry-run jobs; nothing is stored or sent.

The queries are the run's own builders (monitor.sql) over the window it would choose: the profile,
the versions, the performance counts, the report sample, and the late-label refresh of the past
windows (its count over their span, then, at most, one performance query per window). The bytes
BigQuery bills depend only on the columns and partitions a query reads, not on the reference's bin
edges or categories, so the profile is built on placeholder specs and the reference need not exist.
Small lookups of Driftline's own tables (runs, state) are left out; BigQuery bills every query at
least 10 MB per table it reads.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Protocol, runtime_checkable

from monitor.config import ModelConfig, defaults
from monitor.pipeline.labels import label_time
from monitor.pipeline.windows import window_for
from monitor.schema.profile import CategoricalSpec, NumericSpec, Spec
from monitor.sql import profiler as profiling
from monitor.sql.labels import labelled_per_piece_query, pieces
from monitor.sql.performance import performance_query
from monitor.sql.queries import Query, Source, profile_query, versions_query
from monitor.sql.samples import sample_query
from monitor.stores.base import Store


@runtime_checkable
class Estimating(Protocol):
    """A store that can say what a query would process without running it (BigQuery's dry-run jobs)."""

    def estimate(self, q: Query) -> int: ...


@dataclass(frozen=True)
class DryRun:
    """What one model's run would process: (what, bytes) per query, or why it can't be said."""

    model: str
    window_start: datetime
    window_end: datetime
    queries: tuple[tuple[str, int], ...] = ()
    not_applicable: str | None = None

    @property
    def total(self) -> int:
        return sum(b for _, b in self.queries)

    def lines(self) -> list[str]:
        """What `driftline run --dry-run` prints for this model."""
        head = f"{self.model}: window {self.window_start:%Y-%m-%d %H:%M} -> {self.window_end:%Y-%m-%d %H:%M} UTC"
        if self.not_applicable:
            return [f"{head}: bytes processed not applicable ({self.not_applicable})"]
        usd = self.total / 2**40 * defaults.ON_DEMAND_USD_PER_TIB
        return [f"{head}: would process {self.total:,} bytes ({self.total / 1e6:,.1f} MB, est. ${usd:,.4f} "
                f"at on-demand prices); nothing run, stored or sent",
                *(f"  {b:>16,}  {what}" for what, b in self.queries)]


def _placeholder(name: str, kind: str, expr: str, bins: int) -> Spec:
    if kind == "numerical":
        return NumericSpec(name=name, expr=expr, edges=tuple(float(i) for i in range(1, bins)),
                           ref_min=0.0, ref_max=float(bins))
    return CategoricalSpec(name=name, expr=expr, top=("?",), known=("?",))


def _queries(cfg: ModelConfig, store: Store, start: datetime, end: datetime) -> list[tuple[str, Query]]:
    p, lab = cfg.predictions, cfg.labels
    labelled = lab is not None and store.exists(lab.table)
    src = Source(table=store.table(p.table), timestamp=p.timestamp, start=start, end=end,
                 model_column=p.model_column, model=cfg.model, request_id=p.request_id,
                 labels_table=store.table(lab.table) if labelled and lab else None,
                 join_key=lab.join_key if lab else None, label_column=lab.column if lab else None,
                 label_time=label_time(cfg, store) if labelled else None)
    cols = profiling.columns(cfg, with_label=labelled)
    specs = [_placeholder(n, k, profiling.label_expr("__label") if n == profiling.LABEL else e, cfg.drift.bins)
             for n, k, e in cols]
    d = store.dialect
    out = [("profile", profile_query(d, src, specs)),
           ("model versions", versions_query(d, src, p.version_column))]
    pred = cfg.prediction
    if pred.probability:
        perf = {"threshold": pred.threshold, "bins": defaults.SCORE_BINS, "positive_class": pred.positive_class}
        out.append(("performance counts", performance_query(d, src, pred.probability,
                                                            "__label" if labelled else None, **perf)))
    if cfg.report.evidently or cfg.drift.multivariate:
        feats = [(f.name, f.expr or f.column or f.name) for f in cfg.features]
        out.append(("report sample", sample_query(d, src, feats, p.request_id, cfg.report.sample_rows, "dry-run")))
    past = cfg.performance.refresh_windows
    if labelled and pred.probability and past:
        length = end - start
        windows = [(start - length * (k + 1), end - length * (k + 1)) for k in range(past)][::-1]
        span = replace(src, start=windows[0][0], end=windows[-1][1])
        out.append((f"late labels: count over the {past} past windows",
                    labelled_per_piece_query(d, span, pieces(windows)[0], pred.probability)))
        for ws, we in windows:  # at most: only the windows whose labels changed are re-scored
            out.append((f"late labels: re-score {ws:%Y-%m-%d %H:%M}", performance_query(
                d, replace(src, start=ws, end=we), pred.probability, "__label", **perf)))
    return out


def dry_run(cfg: ModelConfig, store: Store, at: datetime | None = None) -> DryRun:
    """The bytes the run of the window ending at or before `at` would process (dry-run jobs only)."""
    start, end = window_for(cfg, at)
    if not isinstance(store, Estimating):
        return DryRun(cfg.model, start, end, not_applicable=f"the {cfg.store.kind} store runs on this machine: "
                      "nothing is billed, and it does not estimate bytes")
    return DryRun(cfg.model, start, end, tuple((what, store.estimate(q)) for what, q in _queries(cfg, store, start, end)))


def dry_run_models(configs: dict[str, ModelConfig], store_for: Callable[[ModelConfig], Store],
                   at: datetime | None = None, model: str | None = None) -> list[DryRun]:
    """The dry run of every configured model (or only `model`)."""
    return [dry_run(cfg, store_for(cfg), at) for name, cfg in configs.items() if model in (None, name)]


def dry_run_text(configs: dict[str, ModelConfig], store_for: Callable[[ModelConfig], Store],
                 at: datetime | None = None, model: str | None = None) -> str:
    """What `driftline run --dry-run` prints."""
    return "\n".join(line for d in dry_run_models(configs, store_for, at, model) for line in d.lines())
