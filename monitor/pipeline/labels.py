"""Late labels: past windows whose labels changed get their realized performance re-scored, and alerted on.

A refresh first asks the store one cheap question, how many of each candidate window's predictions
are labelled now (monitor.sql.labels), and re-scores only the windows whose count moved or whose
`labels.delay` has just passed (which makes them final, labelled or not). Each re-scored value is
kept: the old one goes to `performance_history`. The alert hook sees each re-scored window, oldest
first, with only the performance rule, so the incident lifecycle (dedupe, cooldown, resolve) applies
to what a refresh finds; its outbox keys name the window, so a retried refresh sends nothing twice.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from datetime import datetime

from monitor.config import ModelConfig
from monitor.pipeline import performance as performance_run
from monitor.pipeline.base import AlertHook
from monitor.schema.summary import AlertEntry, RunSummary
from monitor.sql.labels import labelled_per_piece_query, pieces
from monitor.sql.queries import Source
from monitor.stores.base import RunRecord, Store

# What a re-scored window is alerted on (its drift was alerted on at its own run); a final realized
# value also quiets the window's estimated-performance finding.
REFRESH_RULES = ("performance", "estimated_performance")


def window_source(cfg: ModelConfig, store: Store, start: datetime, end: datetime) -> Source:
    p, lab = cfg.predictions, cfg.labels
    assert lab is not None
    return Source(table=store.table(p.table), timestamp=p.timestamp, start=start, end=end,
                  model_column=p.model_column, model=cfg.model, labels_table=store.table(lab.table),
                  join_key=lab.join_key, label_column=lab.column, request_id=p.request_id,
                  label_time=label_time(cfg, store))


def label_time(cfg: ModelConfig, store: Store) -> str | None:
    """The labels' arrival column when the labels table has it (the join then reads only recent labels)."""
    t = cfg.labels.timestamp if cfg.labels else None
    if t is None or cfg.labels is None:
        return None
    getter = getattr(store, "columns", None)
    return t if getter is None or t in getter(cfg.labels.table) else None


def settled(cfg: ModelConfig, window_end: datetime, now: datetime) -> bool:
    """Whether `labels.delay` has passed since the window's end: its performance is final as it stands."""
    delay = cfg.labels.delay if cfg.labels else None
    return delay is not None and now - window_end >= delay


def _records(cfg: ModelConfig, store: Store, start: datetime | None, end: datetime | None,
             limit: int | None) -> Iterator[RunRecord]:
    """Stored runs newest first: the last `limit`, or every one whose window lies in [start, end)."""
    offset, page = 0, limit if limit is not None else 200
    while True:
        batch = store.list_runs(cfg.model, limit=page, offset=offset)
        for rec in batch:
            if start is not None and rec.window_start < start:
                return
            if end is None or rec.window_end <= end:
                yield rec
        if limit is not None or len(batch) < page:
            return
        offset += page


def labelled_counts(cfg: ModelConfig, store: Store, windows: list[tuple[datetime, datetime]]) -> list[int]:
    """Labelled predictions of each window, in one scan of their span."""
    if not windows or not cfg.prediction.probability:
        return [0] * len(windows)
    src = window_source(cfg, store, min(s for s, _ in windows), max(e for _, e in windows))
    parts, covers = pieces(windows)
    rows = store.query(labelled_per_piece_query(store.dialect, src, parts, cfg.prediction.probability))
    per_piece = {int(r["w"]): int(r["labelled"]) for r in rows if r["w"] is not None}
    return [sum(per_piece.get(k, 0) for k in cover) for cover in covers]


def refresh_performance(cfg: ModelConfig, store: Store, before: datetime | None = None,
                        windows: int | None = None, *, now: datetime | None = None, start: datetime | None = None,
                        end: datetime | None = None) -> list[str]:
    """Re-score the windows whose labels changed (see rescore_changed); their run ids, oldest first."""
    return [s.run_id for s in rescore_changed(cfg, store, before, windows, now=now, start=start, end=end)]


def rescore_changed(cfg: ModelConfig, store: Store, before: datetime | None = None,
                    windows: int | None = None, *, now: datetime | None = None, start: datetime | None = None,
                    end: datetime | None = None) -> list[RunSummary]:
    """Re-score the stored windows whose labels changed (or whose label delay passed); the re-scored summaries.

    Candidates are the last `windows` runs (default `performance.refresh_windows`) starting before
    `before`, or with `start`/`end` every run whose window lies in [start, end).
    """
    ref = performance_run.reference_state(cfg, store)
    if ref is None or cfg.labels is None or not store.exists(cfg.labels.table):
        return []
    now = now or datetime.now()
    limit = None if start is not None or end is not None else (
        cfg.performance.refresh_windows if windows is None else windows)
    candidates = []
    for rec in _records(cfg, store, start, end, limit):
        if before is not None and rec.window_start >= before:
            continue
        s = RunSummary.model_validate_json(rec.summary_json)
        if (s.performance or {}).get("status") != "final":
            candidates.append((rec, s))
    counts = labelled_counts(cfg, store, [(rec.window_start, rec.window_end) for rec, _ in candidates])
    moved = []
    for (rec, s), labelled in zip(candidates, counts, strict=True):
        old = s.performance or {}
        done = settled(cfg, rec.window_end, now)
        if old and (old.get("coverage") or {}).get("labelled") == labelled and not done:
            continue  # the cheap count says nothing moved
        moved.append((rec, s, done))
    spans = [(rec.window_start, rec.window_end) for rec, _, _ in moved]
    # Every moved window's counts in one grouped scan of their span, not one label-joined query each.
    tallies = performance_run.windows_counts(
        cfg, store, window_source(cfg, store, min(a for a, _ in spans), max(b for _, b in spans)), spans) \
        if moved and cfg.prediction.probability else [None] * len(moved)
    changed = []
    for (rec, s, done), counted in zip(moved, tallies, strict=True):
        old = s.performance or {}
        new, _ = performance_run.window_performance(
            cfg, store, window_source(cfg, store, rec.window_start, rec.window_end), True, ref, settled=done,
            counted=counted)
        if new is None or (old and old.get("coverage") == new.get("coverage") and old.get("status") == new.get("status")):
            continue
        if old:
            s.performance_history.append(old)
        s.performance = new
        store.update_run_summary(rec.run_id, s.model_dump_json())
        changed.append(s)
    return sorted(changed, key=lambda s: s.window.start)


def alert_refreshed(cfg: ModelConfig, store: Store, refreshed: list[RunSummary],
                    alert_hook: AlertHook | None, *, defer: bool = False) -> list[AlertEntry]:
    """The performance alerts of re-scored windows, oldest first, each with its own earlier history.

    defer=True (inside a scheduled run): their news goes out in that run's one message."""
    if alert_hook is None or not refreshed:
        return []
    out: list[AlertEntry] = []
    for s in refreshed:
        history = [RunSummary.model_validate_json(r.summary_json) for r in store.list_runs(cfg.model, limit=40)
                   if r.window_start < s.window.start.replace(tzinfo=None)][:20]
        raised = alert_hook(s, history, only=REFRESH_RULES, defer=defer)
        if raised:  # kept on the window itself: what was said about it after its run
            s.extra.setdefault("late_alerts", []).extend(a.model_dump() for a in raised)
            store.update_run_summary(s.run_id, s.model_dump_json())
        out += raised
    return out


def refresh_models(configs: dict[str, ModelConfig], store_for: Callable[[ModelConfig], Store], *,
                   now: datetime, start: datetime | None = None, end: datetime | None = None,
                   alert_hook_for: Callable[[ModelConfig, Store], AlertHook | None] | None = None) -> list[RunSummary]:
    """`driftline refresh`: re-score every model's windows whose labels changed, and alert on them."""
    out = []
    for cfg in configs.values():
        store = store_for(cfg)
        hook = alert_hook_for(cfg, store) if alert_hook_for else None
        with getattr(store, "lock", None) or contextlib.nullcontext():  # as run_models: one writer at a time
            refreshed = rescore_changed(cfg, store, now=now, start=start, end=end)
            alert_refreshed(cfg, store, refreshed, hook)
        out += refreshed
    return out
