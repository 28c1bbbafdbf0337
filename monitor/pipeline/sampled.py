"""The run's bounded samples and what is built on them: the domain classifier, and Evidently's report (its
samples kept for a build off the critical path, monitor.pipeline.report_jobs)."""

from __future__ import annotations

import zlib
from pathlib import Path

import pandas as pd

from monitor.config import ModelConfig
from monitor.drift.multivariate import MultivariateResult, domain_classifier
from monitor.pipeline import report_jobs
from monitor.pipeline.base import ReportBuilder
from monitor.pipeline.failures import phase
from monitor.schema.profile import WindowProfile
from monitor.sql import profiler as profiling
from monitor.sql.queries import Source
from monitor.stores.base import Store


def config_column(expr: str) -> bool:
    """Whether a spec's expression is a plain column name (not a configured SQL expression)."""
    return expr.isidentifier()



def samples(cfg: ModelConfig, store: Store, src: Source, run_id: str, logged: dict[str, str],
            ref_cols: dict[str, str], rows: tuple[int, int] | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Bounded, uniform, deterministic samples of the window and the reference (for visuals and the classifier).

    `rows`: the window's and the reference's row counts (their profiles'), so DuckDB filters by a hash cut
    instead of sorting every row (monitor.sql.samples); the same rows are drawn either way."""
    phase("samples")
    feats = [(f.name, f.expr or f.column or f.name) for f in cfg.features]
    cur_feats = [(n, "NULL" if logged and e not in logged and config_column(e) else e) for n, e in feats]
    extra: list[tuple[str, str]] = []
    pred = cfg.prediction
    if pred.probability:
        extra.append(("probability", pred.probability))
    if pred.class_column:
        extra.append(("predicted_class", pred.class_column))
    n = cfg.report.sample_rows
    key = cfg.predictions.request_id
    label_cols = [("label", "__label")] if src.labels_table else []
    # Each row's request id keys the window's draw; without one logged, its values do (monitor.sql.samples).
    cur = profiling.sample(store, src, cur_feats + extra + label_cols, key if not logged or key in logged else None,
                           n, run_id, rows[0] if rows else None)
    ref_src = Source(table=store.table(cfg.reference_table))
    ref_label = [("label", cfg.labels.column)] if src.labels_table and cfg.labels else []
    # A reference's rows are keyed by their values, whatever ids it holds (copied logs repeat or lack
    # them); a draw per run, so one unlucky reference sample does not repeat in every run.
    ref = profiling.sample(store, ref_src, feats + extra + ref_label, None, n, f"{run_id}:reference",
                           rows[1] if rows else None)
    phase("decide")
    return cur, ref


def multivariate(cfg: ModelConfig, cur: pd.DataFrame, ref: pd.DataFrame, run_id: str) -> MultivariateResult | None:
    if not cfg.drift.multivariate or cur.empty:
        return None
    phase("classifier")
    names = [f.name for f in cfg.features]
    out = domain_classifier(ref, cur, names, seed=zlib.crc32(run_id.encode()), alpha=cfg.drift.fdr,
                            min_rows=cfg.window.min_rows)
    phase("decide")
    return out


def report(cfg: ModelConfig, cur: pd.DataFrame, ref: pd.DataFrame, run_id: str, window: WindowProfile,
            report_dir: Path | None, build_report: ReportBuilder | None) -> str | None:
    """Where Evidently's report on the bounded samples will be; its samples kept for a build off the
    critical path (monitor.pipeline.report_jobs). No builder: no report (a backfill without --reports)."""
    if build_report is None or window.rows == 0 or not cfg.report.evidently:
        phase("refresh")
        return None
    path = (report_dir or cfg.resolve(cfg.report.directory)) / f"{run_id}.html"
    num = [f.name for f in cfg.features if f.kind == "numerical"]
    cat = [f.name for f in cfg.features if f.kind == "categorical"]
    report_jobs.save_samples(path, cur, ref, numerical=num, categorical=cat,
                             target="label" if "label" in cur.columns else None,
                             prediction="predicted_class" if cfg.prediction.class_column else None,
                             title=f"{cfg.model} {run_id}")
    phase("refresh")  # what follows in the run: the late-label re-check of past windows
    return str(path)
