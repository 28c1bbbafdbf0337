"""Wiring shared by the API and the CLI: open each model's store, build its alert hook."""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from alerts.base import MetricsSink, Notifier
from monitor.config import ModelConfig
from monitor.errors import ConfigError, DriftlineError
from monitor.pipeline import report_jobs
from monitor.pipeline.base import AlertHook
from monitor.pipeline.failures import RunFailure
from monitor.pipeline.run import run_models
from monitor.schema.alerting import AlertState
from monitor.schema.summary import AlertEntry, RunSummary
from monitor.stores.base import Store

if TYPE_CHECKING:
    from alerts.engine import Held

_stores: dict[str, Store] = {}


def _now() -> datetime:
    return datetime.now(UTC)


# The alert side's clock (outbox creation, backoff, claims, expiry): bench/soak.py runs hours of simulated time.
clock: Callable[[], datetime] = _now
_known: dict[str, ModelConfig] = {}  # every loaded model, so a shared store knows all their tables
_lock = threading.Lock()
_report_jobs: report_jobs.ReportJobs | None = None
Reports = Literal["inline", "background", "later", "skip"]


def register(configs: dict[str, ModelConfig]) -> None:
    """Remember the loaded models (the API and the CLI call this once after loading configs)."""
    _known.update(configs)


def _store_key(cfg: ModelConfig) -> str:
    s = cfg.store
    return f"duckdb:{cfg.resolve(s.path).resolve()}" if s.kind == "duckdb" else f"bigquery:{s.project}.{s.dataset}"


def open_store(cfg: ModelConfig) -> Store:
    """The store of a model's config, one per location per process (DuckDB allows one writer)."""
    s = cfg.store
    key = _store_key(cfg)
    with _lock:
        if key not in _stores:
            if s.kind == "duckdb":
                from monitor.config.defaults import DUCKDB_SCAN_EXTRA_COLUMNS, DUCKDB_SPILL_SUFFIX
                from monitor.stores.duckdb import DuckDBStore

                path = cfg.resolve(s.path)
                spill = cfg.resolve(s.temp_directory) if s.temp_directory else Path(f"{path}{DUCKDB_SPILL_SUFFIX}")
                # unset memory_limit: what the widest model of this file needs (monitor.stores.duckdb)
                peers = [m for m in _known.values() if _store_key(m) == key]
                widest = max(len(m.features) for m in [cfg, *peers])
                _stores[key] = DuckDBStore(path, memory_limit=s.memory_limit, temp_directory=spill,
                                           scan_columns=widest + DUCKDB_SCAN_EXTRA_COLUMNS)
            else:
                try:
                    from monitor.stores.bigquery.store import BigQueryStore
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ConfigError(f"store.kind: bigquery needs google-cloud-bigquery ({exc})") from None
                peers = [m for m in _known.values() if m.model != cfg.model and _store_key(m) == key]
                _stores[key] = BigQueryStore.from_config(s, [cfg, *peers])
        return _stores[key]


def close_stores() -> None:
    global _report_jobs
    with _lock:
        jobs, _report_jobs = _report_jobs, None
    if jobs is not None:
        jobs.shutdown()  # the report being built finishes; the queued ones are built when their page opens
    with _lock:
        for store in _stores.values():
            close = getattr(store, "close", None)
            if close:
                close()
        _stores.clear()


_notifiers: dict[str, tuple[dict[str, Notifier], MetricsSink | None]] = {}


def alert_hook(cfg: ModelConfig, store: Store, public_url: str = "", notify: bool = True) -> AlertHook | None:
    """The alerts pipeline for one model: rules, incidents, the outbox, notifiers and metrics.

    notify=False (a backfill): incidents are evaluated and stored, nothing is sent.
    """
    from alerts.channels import build_metrics_sink, build_notifiers
    from alerts.engine import Held

    if not cfg.alerts.enabled:
        return None
    state = store.alert_state()
    if cfg.model not in _notifiers:
        _notifiers[cfg.model] = (build_notifiers(cfg.channels), build_metrics_sink(cfg.channels, state))
    notifiers, metrics = _notifiers[cfg.model]
    base = cfg.report.base_url or public_url

    return _RunAlerts(cfg, state, notifiers, metrics, base, notify, Held())


class _RunAlerts:
    """A model's alert hook: the run calls it to fill the outbox, saves itself, then calls `flush` to send."""

    def __init__(self, cfg: ModelConfig, state: AlertState, notifiers: dict[str, Notifier],
                 metrics: MetricsSink | None, base: str, notify: bool, held: Held) -> None:
        self.cfg, self.state, self.notifiers, self.metrics = cfg, state, notifiers, metrics
        self.base, self.notify, self.held = base, notify, held

    def __call__(self, summary: RunSummary, history: Sequence[RunSummary], *,
                 only: Sequence[str] | None = None, defer: bool = False) -> list[AlertEntry]:
        from alerts.engine import process_run

        cfg = self.cfg
        if only is not None and defer:
            return process_run(summary, history, cfg.alerts, self.state, self.notifiers, self.metrics, self.base,
                               only=only, notify=self.notify, hold=self.held, send=False, clock=clock).alerts
        out = process_run(summary, history, cfg.alerts, self.state, self.notifiers, self.metrics, self.base,
                          only=only, notify=self.notify, carry=self.held, send=False, clock=clock)
        if only is None:
            summary.extra["suppressed"] = out.suppressed_extra()
        return out.alerts

    def flush(self) -> dict[str, list[dict[str, object]]] | None:
        """Send the model's due outbox rows (after the run is saved); what is pending or given up on."""
        from alerts.engine import flush_outbox

        if not self.notify:
            return None
        out = flush_outbox(self.cfg.model, self.cfg.alerts, self.state, self.notifiers, self.metrics, clock())
        return out.summary_extra()


def open_incidents(cfg: ModelConfig, store: Store) -> list[dict[str, str]]:
    """The model's open incidents, for the top of its page."""
    getter = getattr(store, "alert_state", None)
    if getter is None:
        return []
    return [{"severity": i.severity, "rule": i.rule, "subject": i.subject, "opened_at": i.opened_at.isoformat(),
             "acknowledged_by": i.acknowledged_by}
            for i in getter().incidents(cfg.model) if i.status == "open"]


def failure_alert(cfg: ModelConfig, failed: RunFailure, at: datetime | None = None) -> None:
    """A model's failed run, told on its warn channels once per model, phase and error until it runs again,
    through the outbox (so a retry of the same failure is not told twice); straight to the channels only
    when the store itself is down."""
    from alerts.base import Message
    from alerts.channels import build_notifiers
    from alerts.engine import expand_channels, notify_message
    from monitor.config.alerts import SeverityChannels

    if not cfg.alerts.enabled:
        return
    key = f"run_failed:{cfg.model}:{failed.phase}:{failed.error}:{failed.detail}"
    state = None
    try:
        state = open_store(cfg).alert_state()
        if state.get_meta(key) is not None:
            return  # already told: a retry or the next run of the same broken config stays quiet
    except DriftlineError:
        pass  # the store itself is down: tell anyway, nothing to remember it in
    notifiers = build_notifiers(cfg.channels)
    now = at or datetime.now(UTC)
    message = Message(model=cfg.model, severity="critical", rule="run_failed", subject=failed.phase,
                      headline=f"{cfg.model}: run failed in {failed.phase}: {failed.error}",
                      lines=(failed.detail[:500], failed.do), idempotency_key=key)
    channels = expand_channels(SeverityChannels().warn, list(notifiers))
    if state is not None:
        with contextlib.suppress(DriftlineError):
            notify_message(message, channels, cfg.alerts, state, notifiers, now)
            state.set_meta(key, now.isoformat())
            return
    for name in channels:
        try:
            notifiers[name].send(message)
        except Exception:  # noqa: BLE001 - one channel's trouble must not hide the failure
            continue


def check_at(configs: dict[str, ModelConfig], at: datetime | None, model: str | None = None) -> None:
    """POST /run's and `driftline run`'s one check of `at`: InvalidWindow names the valid range."""
    from monitor.pipeline.windows import check_at as check

    if at is None:
        return
    for cfg in configs.values():
        if model is None or cfg.model == model:
            check(cfg, open_store(cfg), at)


def run(configs: dict[str, ModelConfig], at: datetime | None = None, model: str | None = None,
        public_url: str = "", report_dir: str | None = None, notify: bool = True,
        failures: list[RunFailure] | None = None, reports: Reports = "inline") -> list[RunSummary]:
    """Run every configured model (or one) with its store and alerts: what POST /run does (notify=False:
    a quiet backfill).

    With a `failures` list, each model's failure is collected (and alerted) and the others still run.
    `reports`: when Evidently's report is built, after the runs are stored: "inline" before returning,
    "background" in the service's report thread, "later" when its page is first opened, "skip": never.
    """

    def store_for(cfg: ModelConfig) -> Store:
        return open_store(cfg)

    def hook_for(cfg: ModelConfig, store: Store) -> AlertHook | None:
        return alert_hook(cfg, store, public_url, notify)

    from reports.evidently_report import build_report

    summaries = run_models(configs, store_for, at=at, model=model, alert_hook_for=hook_for,
                           report_dir=Path(report_dir) if report_dir else None,
                           report_builder=None if reports == "skip" else build_report,
                           failures=failures, on_failure=failure_alert if failures is not None else None)
    if reports == "inline":
        build_reports(summaries)
    elif reports == "background":
        for s in summaries:
            report_pending(s)
    return summaries


def _jobs() -> report_jobs.ReportJobs:
    global _report_jobs
    from reports.evidently_report import build_report

    with _lock:
        if _report_jobs is None:
            _report_jobs = report_jobs.ReportJobs(build_report)
        return _report_jobs


def _report_path(summary: RunSummary) -> Path | None:
    path = summary.extra.get("report_path")
    return Path(path) if path else None


def build_reports(summaries: Sequence[RunSummary]) -> None:
    """Build the Evidently reports of these runs now (those still waiting for their build)."""
    from reports.evidently_report import build_report

    for s in summaries:
        path = _report_path(s)
        if path is not None and report_jobs.state(path) == "pending":
            report_jobs.build(path, build_report)


def report_pending(summary: RunSummary) -> bool:
    """Whether the run's Evidently report is still to come; if so, its build is started in the background."""
    path = _report_path(summary)
    if path is None or report_jobs.state(path) != "pending":
        return False
    _jobs().submit(path)
    return True


def refresh(configs: dict[str, ModelConfig], start: datetime | None = None, end: datetime | None = None,
            public_url: str = "") -> list[RunSummary]:
    """Re-score the stored windows whose labels changed (all in [start, end), else the recent ones) and alert."""
    from monitor.pipeline.labels import refresh_models
    from monitor.pipeline.windows import utcnow

    hooks: list[AlertHook | None] = []

    def hook_for(cfg: ModelConfig, store: Store) -> AlertHook | None:
        hooks.append(alert_hook(cfg, store, public_url))
        return hooks[-1]

    out = refresh_models(configs, open_store, now=utcnow(), start=start, end=end, alert_hook_for=hook_for)
    for hook in hooks:  # the news was written to the outbox with the re-scored runs: now send it
        flush = getattr(hook, "flush", None)
        if flush is not None:
            flush()
    return out


def report_file(summary: RunSummary) -> Path | None:
    """The run's built Evidently report, if it is built."""
    path = _report_path(summary)
    return path if path is not None and path.exists() else None


def report_error(cfg: ModelConfig, summary: RunSummary, report_dir: str | None = None) -> str | None:
    """Why Evidently's report of a run could not be built, when it failed."""
    from reports.evidently_report import error_path

    path = error_path(_report_path(summary) or (Path(report_dir) if report_dir else cfg.resolve(
        cfg.report.directory)) / f"{summary.run_id}.html")
    try:
        return path.read_text()[:500] if path.exists() else None
    except OSError:
        return None
