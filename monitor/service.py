"""Wiring shared by the API and the CLI: open each model's store, build its alert hook."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path

from monitor.config import ModelConfig
from monitor.errors import ConfigError
from monitor.run import AlertHook, run_models
from monitor.stores.base import Store
from monitor.summary import AlertEntry, RunSummary

_stores: dict[str, Store] = {}
_lock = threading.Lock()


def open_store(cfg: ModelConfig) -> Store:
    """The store of a model's config, one per location per process (DuckDB allows one writer)."""
    s = cfg.store
    key = f"duckdb:{cfg.resolve(s.path).resolve()}" if s.kind == "duckdb" else f"bigquery:{s.project}.{s.dataset}"
    with _lock:
        if key not in _stores:
            if s.kind == "duckdb":
                from monitor.stores.duckdb import DuckDBStore

                _stores[key] = DuckDBStore(cfg.resolve(s.path))
            else:
                try:
                    from monitor.stores.bigquery import BigQueryStore
                except ImportError as exc:  # pragma: no cover - depends on the install
                    raise ConfigError(f"store.kind: bigquery needs google-cloud-bigquery ({exc})") from None
                _stores[key] = BigQueryStore.from_config(s)  # type: ignore[attr-defined]
        return _stores[key]


def close_stores() -> None:
    with _lock:
        for store in _stores.values():
            close = getattr(store, "close", None)
            if close:
                close()
        _stores.clear()


def alert_hook(cfg: ModelConfig, store: Store) -> AlertHook | None:
    """The alerts pipeline for one model (incidents, outbox, notifiers, metrics), or None."""
    try:
        from alerts.engine import hook_for
    except ImportError:
        return _console_only
    return hook_for(cfg, store)


def _console_only(summary: RunSummary, history: Sequence[RunSummary]) -> list[AlertEntry]:
    return []


def run(configs: dict[str, ModelConfig], at: datetime | None = None, model: str | None = None) -> list[RunSummary]:
    """Run every configured model (or one) with its store and alerts: what POST /run does."""
    return run_models(configs, open_store, at=at, model=model, alert_hook_for=alert_hook)


def report_file(summary: RunSummary) -> Path | None:
    path = summary.extra.get("report_path")
    return Path(path) if path and Path(path).exists() else None
