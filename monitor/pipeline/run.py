"""One run of one model's window: the function the API, the CLI and the tests all call.

take the (model, window) lease -> choose the window (complete, past its grace) -> reference specs
(fixed once) -> one SQL scan of the window -> compare and decide -> Evidently report on bounded
samples -> alerts (incidents + outbox rows) -> persist -> send the outbox -> release the lease.
A run is idempotent per (model, window): a second call returns the stored summary.
"""

from __future__ import annotations

import contextlib
import logging
import time
import zlib
from collections.abc import Callable
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path

import pandas as pd

from monitor.config import FeatureConfig, ModelConfig, defaults
from monitor.drift.decision import Decision, DecisionInput, PrecomputedTest, decide
from monitor.drift.rates import RateFloors
from monitor.drift.statistics import DEFAULT_STATISTIC, get_statistic
from monitor.errors import ConfigError, TableNotFound
from monitor.logs import run_context
from monitor.pipeline import performance as performance_run
from monitor.pipeline import sampled
from monitor.pipeline.base import AlertHook, ReportBuilder
from monitor.pipeline.digest import digest
from monitor.pipeline.failures import RunFailure, failure, phase, phase_times, start_timing
from monitor.pipeline.labels import alert_refreshed, label_time, rescore_changed, settled
from monitor.pipeline.lease import flush_outbox, lease_of
from monitor.pipeline.models import require_runnable
from monitor.pipeline.profiles import window_profile
from monitor.pipeline.reference import columns, ensure_reference
from monitor.pipeline.sampled import config_column
from monitor.pipeline.volume import expected_rows, missed_windows
from monitor.pipeline.windows import complete_at, run_id_for, utcnow, window_for
from monitor.quality import assess, null_rate, out_of_range_rate
from monitor.schema import faults
from monitor.schema.profile import CategoricalProfile, NumericProfile, Spec
from monitor.schema.summary import FeatureQuality, FeatureVerdict, RunSummary, Window
from monitor.sql import profiler as profiling
from monitor.sql.bookkeeping import REJECTS_TABLE, rejected_rows_query
from monitor.sql.queries import Source, versions_query
from monitor.stores.base import RunRecord, Store

log = logging.getLogger(__name__)
def _quality(p: NumericProfile | CategoricalProfile) -> FeatureQuality:
    if isinstance(p, NumericProfile):
        return FeatureQuality(null_rate=null_rate(p), out_of_range_rate=out_of_range_rate(p), infinite=p.infinite)
    return FeatureQuality(null_rate=null_rate(p), out_of_range_rate=0.0, unseen_categories=p.unseen,
                          unseen_values=list(p.unseen_values))


def _rejected(store: Store, cfg: ModelConfig, start: datetime, end: datetime) -> int:
    if not store.exists(REJECTS_TABLE):
        return 0
    q = rejected_rows_query(store.dialect, store.table(REJECTS_TABLE), cfg.model, start, end)
    return int(store.query(q)[0]["n"])


def _verdict(d: Decision) -> FeatureVerdict:
    value = None if d.value is None else float(d.value)
    return FeatureVerdict(name=d.name, kind=d.kind, statistic=d.statistic, value=value, threshold=d.threshold,
                          p_value=d.p_value, drifted=d.drifted, status=d.status,
                          extra={"floor": d.floor, **d.extra}, min_detectable=d.min_detectable,
                          min_detectable_text=d.min_detectable_text)


def spread_floor(cfg: ModelConfig, feature: FeatureConfig | None) -> float | None:
    """The spread test's floor for one column: the feature's own, else the model's; None: no test."""
    if feature is not None and not feature.spread:
        return None
    if feature is not None and feature.spread_floor is not None:
        return feature.spread_floor
    return cfg.drift.spread_floor


def rate_floors(cfg: ModelConfig, feature: FeatureConfig | None) -> RateFloors:
    """The rate floors of one column: the feature's own where it sets them, else the model's."""
    d = cfg.drift
    own = (lambda k: getattr(feature, k) if feature is not None and getattr(feature, k) is not None
           else getattr(d, k))
    return RateFloors(points=own("rate_points"), relative=own("rate_relative"), mean_relative=own("mean_relative"),
                      new_values=d.new_values_share, zeros_points=own("zeros_points"), floor_alpha=d.floor_alpha)


def _others(spec: Spec, ref: NumericProfile | CategoricalProfile, cur: NumericProfile | CategoricalProfile) -> dict[str, float]:
    """The other registered statistics, shown on the page beside the deciding one."""
    out: dict[str, float] = {}
    for name in ("psi", "ks", "jensenshannon", "chisquare"):
        stat = get_statistic(name)
        if spec.kind in stat.kinds and cur.valid and ref.valid:
            out[name] = round(stat.compute(ref, cur, spec).value, 6)
    return out


def _shift(ref: NumericProfile | CategoricalProfile, cur: NumericProfile | CategoricalProfile) -> dict[str, float]:
    """How far the window's mean moved, in reference standard deviations (an alert's "up 1.5 std")."""
    if not (isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile)) or ref.mean is None \
            or cur.mean is None or not ref.variance:
        return {}
    return {"shift_std": round((cur.mean - ref.mean) / ref.variance ** 0.5, 3)}


def run_window(cfg: ModelConfig, store: Store, at: datetime | None = None, *,
               alert_hook: AlertHook | None = None, report_dir: Path | None = None,
               report_builder: ReportBuilder | None = None) -> RunSummary:
    """Run (or return the stored run of) the latest complete window ending at or before `at`.

    Under the (model, window) lease: a concurrent caller waits for this one's result or is told the
    run is in progress. The run is saved before its alerts are sent, and every call, a new window or
    not, sends the model's pending outbox rows.
    """
    wall = utcnow()
    start, end = window_for(cfg, complete_at(cfg, at, wall))
    run_id = run_id_for(cfg, start, end)
    bytes_before = store.bytes_processed  # from the first query: the lookup of a stored run counts too
    now = at or wall
    with run_context(run_id):
        store.get_run(run_id)  # a missing dataset or table fails here, named, before the lease's table is made
        with lease_of(store, run_id, cfg, wall) as owner:
            stored = store.get_run(run_id)
            if stored is not None:
                if owner is None:  # the run that held the lease finished meanwhile: its result stands
                    summary = RunSummary.model_validate_json(stored.summary_json)
                else:
                    log.info("run %s exists; re-scoring its performance only", run_id, extra={"run_id": run_id})
                    summary = rescore_window(cfg, store, stored, now, alert_hook)
                fresh = False
            else:
                faults.reached("after_lease")
                summary = _run(cfg, store, start, end, run_id, alert_hook, report_dir, report_builder, now,
                               bytes_before)
                fresh = True
            faults.reached("before_release")
        sent = flush_outbox(alert_hook)
        if fresh and sent is not None:
            summary.extra["deliveries"] = sent
            store.update_run_summary(run_id, summary.model_dump_json())
    return summary


def rescore_window(cfg: ModelConfig, store: Store, stored: RunRecord, now: datetime,
                   alert_hook: AlertHook | None) -> RunSummary:
    """A stored window run again: its performance re-scored if its labels changed (alerted on once);
    its drift verdicts and the alerts it sent stay as they were."""
    if cfg.labels is not None and store.exists(cfg.labels.table):
        refreshed = rescore_changed(cfg, store, now=now, start=stored.window_start, end=stored.window_end)
        alert_refreshed(cfg, store, refreshed, alert_hook)
    latest = store.get_run(stored.run_id)
    assert latest is not None
    return RunSummary.model_validate_json(latest.summary_json)


def _run(cfg: ModelConfig, store: Store, start: datetime, end: datetime, run_id: str,
         alert_hook: AlertHook | None, report_dir: Path | None, report_builder: ReportBuilder | None,
         now: datetime, bytes_before: int = 0) -> RunSummary:
    t0 = time.perf_counter()
    start_timing()
    phase("check")
    require_runnable(cfg, store)  # a misspelt column fails here, naming the field, not deep in a statistic
    phase("reference")
    ref = ensure_reference(cfg, store)
    labels_ok = cfg.labels is not None and profiling.LABEL in ref.specs and store.exists(cfg.labels.table)
    p = cfg.predictions
    phase("logs")
    if not store.exists(p.table):
        raise TableNotFound(f"predictions table {p.table!r} does not exist; check predictions.table or ingest logs")
    src = Source(
        table=store.table(p.table), timestamp=p.timestamp, start=start, end=end, model_column=p.model_column,
        model=cfg.model,
        labels_table=store.table(cfg.labels.table) if labels_ok and cfg.labels else None,
        join_key=cfg.labels.join_key if cfg.labels else None,
        label_column=cfg.labels.column if cfg.labels else None, request_id=p.request_id,
        label_time=label_time(cfg, store) if labels_ok else None,
    )
    specs = [replace(s, expr=profiling.label_expr("__label")) if s.name == profiling.LABEL else s
             for s in ref.specs.values() if labels_ok or s.name != profiling.LABEL]
    logged = columns(store, p.table)  # read once: the specs, the samples and the schema check use it
    ref_cols = columns(store, cfg.reference_table)
    if logged:
        # A monitored column gone from the logs profiles as all-NULL: a data-quality verdict, not a crash.
        specs = [replace(s, expr="NULL") if s.expr not in logged and s.expr != "__label"
                 and config_column(s.expr) else s for s in specs]
    phase("profile")
    window = window_profile(cfg, store, src, specs)  # merged from per-bucket partials where it can
    faults.reached("after_profile")
    past = [(r, RunSummary.model_validate_json(r.summary_json).rows)
            for r in store.list_runs(cfg.model, limit=20) if r.window_start < start]
    expected, expected_from = expected_rows(cfg, store, past, ref_cols)
    by_name = {f.name: f for f in cfg.features}
    items = []
    for spec in specs:
        f = by_name.get(spec.name)
        stat = (f.statistic if f and f.statistic else None) or (
            cfg.drift.numerical.statistic if spec.kind == "numerical" else cfg.drift.categorical.statistic)
        floor = (f.threshold if f else None)
        if floor is None:
            floor = cfg.drift.numerical.threshold if spec.kind == "numerical" else cfg.drift.categorical.threshold
        items.append(DecisionInput(name=spec.name, kind=spec.kind, spec=spec, reference=ref.profile.features[spec.name],
                                   window=window.features[spec.name], statistic=stat or DEFAULT_STATISTIC[spec.kind],
                                   floor=floor, min_rows=cfg.window.min_rows,
                                   spread_floor=spread_floor(cfg, f), column_kind=f.column_kind if f else None,
                                   rate_floors=rate_floors(cfg, f)))
    phase("decide")
    # Samples only feed Evidently's visuals and the classifier: skip the two queries when neither runs.
    wanted = window.rows and (cfg.report.evidently or cfg.drift.multivariate)
    cur_sample, ref_sample = (sampled.samples(cfg, store, src, run_id, logged, ref_cols,
                                              (window.rows, ref.profile.rows)) if wanted
                              else (pd.DataFrame(), pd.DataFrame()))
    multi = sampled.multivariate(cfg, cur_sample, ref_sample, run_id)
    tests: list[DecisionInput | PrecomputedTest] = [*items]
    if multi is not None and multi.p_value is not None:
        tests.append(multi.as_test())  # one more member of the run's Benjamini-Hochberg family
    decisions = {d.name: d for d in decide(tests, fdr=cfg.drift.fdr, seed=zlib.crc32(run_id.encode()))}
    verdicts: dict[str, FeatureVerdict] = {}
    for spec in specs:
        v = _verdict(decisions[spec.name])
        v.extra.update(_others(spec, ref.profile.features[spec.name], window.features[spec.name]))
        v.extra.update(_shift(ref.profile.features[spec.name], window.features[spec.name]))
        verdicts[spec.name] = v
    feats = [verdicts[f.name] for f in cfg.features]
    decided = [v for v in feats if v.status != "insufficient_data"]
    share = sum(v.drifted for v in decided) / len(decided) if decided else 0.0
    prediction = verdicts.get(profiling.PREDICTION) or verdicts.get(profiling.PREDICTED_CLASS)
    if prediction is not None:
        prediction = prediction.model_copy(update={"name": "prediction"})
    label = verdicts.get(profiling.LABEL)
    if label is not None:
        label = label.model_copy(update={"name": "label"})
    status = "insufficient_data" if window.rows < cfg.window.min_rows else "ok"
    summary = RunSummary(
        run_id=run_id, model=cfg.model, window=Window(start=start.replace(tzinfo=UTC),
                                                       end=end.replace(tzinfo=UTC)),
        rows=window.rows, rows_rejected=_rejected(store, cfg, start, end), expected_rows=expected,
        features=feats, drift_share=share,
        dataset_drift=(bool(decided) and share >= cfg.drift.drift_share) or bool(
            "multivariate" in decisions and decisions["multivariate"].drifted),
        prediction_drift=prediction,
        label_drift=label, data_quality={f.name: _quality(window.features[f.name]) for f in cfg.features},
        report_url=f"{cfg.report.base_url.rstrip('/')}/report/{run_id}", status=status, created_at=utcnow(),
    )
    summary.model_versions = _versions(store, src, cfg, logged, window.rows) if window.rows else {}
    summary.model_version = next(iter(summary.model_versions), None)
    phase("performance")
    ref_perf = performance_run.reference_state(cfg, store, ref.version)
    if ref.changed_at:
        summary.extra["reference_changed_at"] = ref.changed_at  # the page says when the reference last changed
    summary.performance, summary.estimated_performance = performance_run.window_performance(
        cfg, store, src, labels_ok, ref_perf, settled=settled(cfg, end, now))
    summary.extra["performance_tolerance"] = cfg.performance.tolerance  # with the reference's own interval:
    summary.extra["reference_intervals"] = {  # the page's reference band
        name: list(m.interval) for name, m in (ref_perf[0].metrics.items() if ref_perf else ()) if m.interval}
    summary.extra["profiles"] = {spec.name: digest(spec, ref.profile.features[spec.name], window.features[spec.name])
                                 for spec in specs}
    summary.extra["drift_share_threshold"] = cfg.drift.drift_share
    summary.extra["predicted_class_drift"] = verdicts.get(profiling.PREDICTED_CLASS) and verdicts[
        profiling.PREDICTED_CLASS].model_dump()
    quality = assess(ref.profile, window, alpha=cfg.quality.alpha,
                     window_columns={k: v for k, v in logged.items()
                                     if k not in (p.request_id, p.timestamp, p.model_column, p.version_column)}
                     or None,
                     reference_columns=ref_cols or None,
                     monitored=tuple(f.column or f.name for f in cfg.features if not f.expr),
                     expected_rows=expected,
                     volume_tolerance=cfg.alerts.volume.thresholds.warn or 0.5)
    if quality is not None:
        summary.quality = quality.model_dump()
        served = (summary.estimated_performance or {}).get("served_class")
        if served:
            summary.quality.setdefault("checks", []).append(served_class_check(served))
    summary.extra["expected_rows_from"] = expected_from
    summary.extra["missed_windows"] = missed_windows(cfg, past, start)
    if multi is not None:
        d = decisions.get("multivariate")
        summary.multivariate = {**asdict(multi), "drifted": bool(d and d.drifted), "threshold": d.threshold if d else multi.threshold,
                                "p_value": d.p_value if d else multi.p_value}
    phase("report")
    summary.extra["report_path"] = sampled.report(cfg, cur_sample, ref_sample, run_id, window, report_dir,
                                           report_builder)
    summary.extra["seconds"] = round(time.perf_counter() - t0, 3)
    # Past windows first, oldest first, so their incidents move forward in time before this window's;
    # before the save, so the run's bytes include the refresh.
    late = alert_refreshed(cfg, store, rescore_changed(cfg, store, before=start, now=now), alert_hook,
                           defer=True) \
        if labels_ok else []
    phase("alerts")
    if alert_hook is not None:
        history = [RunSummary.model_validate_json(r.summary_json) for r in store.list_runs(cfg.model, limit=20)
                   if r.window_start < start]
        summary.alerts = late + alert_hook(summary, history)
    # Every query of the run but the one-row MERGE that saves it (which cannot count itself).
    summary.extra["bytes_processed"] = store.bytes_processed - bytes_before
    phase("persist")
    faults.reached("before_save")
    summary.extra["phases"] = phase_times()  # wall and CPU seconds by phase, all but the save itself
    record = RunRecord(run_id=run_id, model=cfg.model, window_start=start, window_end=end,
                       created_at=summary.created_at or utcnow(), status=status,
                       summary_json=summary.model_dump_json(), bytes_processed=summary.extra["bytes_processed"])
    if not store.save_run(record):  # a concurrent retry won the race: its result stands
        existing = store.get_run(run_id)
        assert existing is not None
        return RunSummary.model_validate_json(existing.summary_json)
    faults.reached("after_save")
    log.info("run %s: %d rows, drift share %.2f", run_id, summary.rows, share, extra={"run_id": run_id})
    return summary


def served_class_check(served: dict) -> dict:
    """The logged class against the threshold: a data-quality problem above defaults.SERVED_DISAGREEMENT."""
    share = served["share"]
    return {"check": "served_class", "subject": served["column"], "value": share,
            "threshold": defaults.SERVED_DISAGREEMENT,
            "status": "problem" if share > defaults.SERVED_DISAGREEMENT else "ok",
            "detail": f"{served['disagree']} rows ({share:.1%}) whose logged class is not the threshold's; "
                      "realized performance uses the logged class"}


def _versions(store: Store, src: Source, cfg: ModelConfig, logged: dict[str, str], rows: int) -> dict[str, float]:
    """Model version -> share of the window's rows, most common first ({} if versions are not logged)."""
    col = cfg.predictions.version_column
    if logged and col not in logged:
        return {}
    seen = store.query(versions_query(store.dialect, src, col))
    return {str(r["v"]): round(int(r["n"]) / max(rows, 1), 6) for r in seen if r["v"] is not None}


def run_models(configs: dict[str, ModelConfig], store_for: Callable[[ModelConfig], Store], at: datetime | None = None,
               model: str | None = None, alert_hook_for: Callable[[ModelConfig, Store], AlertHook | None] | None = None,
               report_dir: Path | None = None, report_builder: ReportBuilder | None = None,
               failures: list[RunFailure] | None = None,
               on_failure: Callable[[ModelConfig, RunFailure], None] | None = None) -> list[RunSummary]:
    """Run every configured model's window (or only `model`).

    With a `failures` list, a model whose run fails is appended there (and `on_failure` told) and the
    other models still run; without one, the first failure is raised.
    """
    if model is not None and model not in configs:
        raise ConfigError(f"unknown model {model!r}; configured: {sorted(configs)}")
    chosen = [configs[model]] if model else list(configs.values())
    out = []
    for cfg in chosen:
        phase("store")
        try:
            store = store_for(cfg)
            hook = alert_hook_for(cfg, store) if alert_hook_for else None
            lock = getattr(store, "lock", None) or contextlib.nullcontext()
            with lock:  # one run at a time per embedded store's connection; the lease covers the rest
                out.append(run_window(cfg, store, at, alert_hook=hook,
                                      report_dir=report_dir / cfg.model if report_dir else None,
                                      report_builder=report_builder))
        except Exception as exc:  # one model's failure is its own: named, and the others still run
            if failures is None:
                raise
            failed = failure(cfg.model, exc)
            log.error("model %s: %s", cfg.model, failed.line(), exc_info=not failed.retryable and
                      failed.error not in ("ConfigError", "TableNotFound", "RunInProgress", "InvalidWindow"))
            failures.append(failed)
            if on_failure is not None and failed.status == "failed":  # a run in progress is no failure
                try:
                    on_failure(cfg, failed)
                except Exception as alert_exc:  # telling about a failure must not stop the other models
                    log.error("model %s: the failure alert failed too: %s", cfg.model, alert_exc)
    return out
