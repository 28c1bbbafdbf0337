"""Late labels: past windows whose label coverage grew get their realized performance recomputed."""

from __future__ import annotations

from datetime import datetime

from monitor.config import ModelConfig
from monitor.pipeline import performance as performance_run
from monitor.schema.summary import RunSummary
from monitor.sql.queries import Source
from monitor.stores.base import Store


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


def refresh_performance(cfg: ModelConfig, store: Store, before: datetime, windows: int | None = None) -> list[str]:
    """Recompute past windows' performance whose label coverage changed; returns their run ids."""
    ref = performance_run.reference_state(cfg, store)
    if ref is None or cfg.labels is None or not store.exists(cfg.labels.table):
        return []
    changed = []
    for rec in store.list_runs(cfg.model, limit=cfg.performance.refresh_windows if windows is None else windows):
        if rec.window_start >= before:
            continue
        s = RunSummary.model_validate_json(rec.summary_json)
        old = s.performance or {}
        if old.get("status") == "final":
            continue
        src = window_source(cfg, store, rec.window_start, rec.window_end)
        new, _ = performance_run.window_performance(cfg, store, src, True, ref)
        if new is None or (old and old.get("coverage") == new.get("coverage")):
            continue
        if old:
            s.performance_history.append(old)
        s.performance = new
        store.update_run_summary(rec.run_id, s.model_dump_json())
        changed.append(rec.run_id)
    return changed
