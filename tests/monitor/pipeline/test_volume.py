"""Volume by default: an empty window is critical, a small one alerts, a skipped window is noticed."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pandas as pd

from monitor.api import wiring as service
from monitor.config import ModelConfig
from monitor.demo import simulate
from monitor.schema.summary import RunSummary
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START


def _store(cfg: ModelConfig, days: int, per_day: int) -> DuckDBStore:
    store = service.open_store(cfg)
    store.insert_frame(cfg.reference_table, simulate.reference(3000))
    logs, _ = simulate.traffic(days, per_day, START, scenario="none")
    store.insert_frame("predictions", logs)
    return store


def _run(cfg: ModelConfig, day: int) -> RunSummary:
    return service.run({cfg.model: cfg}, at=START + timedelta(days=day))[0]


def _alerts(s: RunSummary, rule: str = "volume") -> list[tuple[str, str]]:
    return [(a.severity, a.message) for a in s.alerts if a.rule == rule]


def test_an_empty_window_is_a_critical_alert_not_a_green_page(cfg: ModelConfig) -> None:
    try:
        _store(cfg, 1, 400)  # day 0 only: the window of day 1 has no rows
        assert cfg.window.expected_rows is None  # nothing configured, nothing learned yet
        s = _run(cfg, 2)
        assert s.rows == 0
        assert [sev for sev, _ in _alerts(s)] == ["critical"]
        assert "0 rows in the window" in _alerts(s)[0][1]
        assert s.quality is not None
        volume = [c for c in s.quality["checks"] if c["check"] == "volume"]
        assert volume and volume[0]["status"] == "problem" and volume[0]["detail"] == "no rows in the window"
    finally:
        service.close_stores()


def test_expected_volume_is_learned_from_recent_windows(cfg: ModelConfig) -> None:
    try:
        store = _store(cfg, 4, 600)
        small, _ = simulate.traffic(1, 40, START + timedelta(days=4), scenario="none")
        small["request_id"] = "small-" + small["request_id"].astype(str)
        store.insert_frame("predictions", small)
        runs = [_run(cfg, d) for d in range(1, 6)]
        assert [r.extra["expected_rows_from"] for r in runs] == [None, None, None, "history", "history"]
        assert runs[3].expected_rows == 600 and not _alerts(runs[3])
        last = runs[4]
        assert last.rows == 40 and last.expected_rows == 600
        assert _alerts(last) == [("critical", "40 rows, expected 600 (off by 93%)")]
    finally:
        service.close_stores()


def test_the_configured_expected_rows_is_the_one_setting(cfg: ModelConfig) -> None:
    cfg = cfg.model_copy(update={"window": cfg.window.model_copy(update={"expected_rows": 1000})})
    try:
        _store(cfg, 1, 400)
        s = _run(cfg, 1)
        assert s.expected_rows == 1000 and s.extra["expected_rows_from"] == "config"
        assert _alerts(s) == [("warn", "400 rows, expected 1000 (off by 60%)")]
    finally:
        service.close_stores()


def test_a_window_never_run_is_noticed_at_the_next_run(cfg: ModelConfig) -> None:
    try:
        _store(cfg, 5, 400)
        first = _run(cfg, 1)
        assert first.extra["missed_windows"] is None
        later = _run(cfg, 4)  # the scheduler stopped for the windows ending on days 2 and 3
        gap = later.extra["missed_windows"]
        assert gap["count"] == 2
        (severity, message), = _alerts(later)
        assert severity == "warn" and message.startswith("2 window(s) between 2026-11-17T00:00:00")
        assert gap["do"] == ("driftline backfill --model wheel-assembly --from 2026-11-17T00:00Z "
                             "--to 2026-11-19T00:00Z")
    finally:
        service.close_stores()


def test_the_reference_rate_is_the_expectation_before_any_history(cfg: ModelConfig, tmp_path: Path) -> None:
    try:
        store = service.open_store(cfg)
        ref = simulate.reference(3000)
        ref["ts"] = pd.date_range(START - timedelta(days=30), periods=3000, freq="864s")  # 100 rows a day
        store.insert_frame(cfg.reference_table, ref)
        logs, _ = simulate.traffic(1, 400, START, scenario="none")
        store.insert_frame("predictions", logs)
        s = _run(cfg, 1)
        assert s.extra["expected_rows_from"] == "reference" and s.expected_rows == 100
    finally:
        service.close_stores()
