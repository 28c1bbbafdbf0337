"""Sliding windows (`window.every`): a 24h window evaluated every hour, each its own run and lease, the
backfill stepping by the same step, and an incident paged once, not once an hour."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path

import pytest

from monitor.api import wiring
from monitor.config import ModelConfig, load_model_config
from monitor.demo import simulate
from monitor.errors import ConfigError
from monitor.pipeline.run import run_window
from monitor.pipeline.volume import missed_windows
from monitor.pipeline.windows import run_id_for, window_ends, window_for
from monitor.pipeline.profiles import EPOCH
from tests.conftest import START, write_config
from tests.monitor.pipeline.test_profiles import scanned_buckets
from tests.monitor.stores.recording import RecordingDuckDB

HOUR = timedelta(hours=1)


def _cfg(tmp_path: Path, window: str) -> ModelConfig:
    path = write_config(tmp_path, report="{evidently: false}", window=window)
    return load_model_config(path)


def test_without_every_windows_stay_side_by_side(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "{length: 24h}")
    assert cfg.window.step_duration == timedelta(hours=24)
    assert window_for(cfg, datetime(2026, 11, 20, 7, 30)) == (datetime(2026, 11, 19), datetime(2026, 11, 20))
    assert window_ends(cfg, datetime(2026, 11, 1), datetime(2026, 11, 4)) == [
        datetime(2026, 11, 2), datetime(2026, 11, 3), datetime(2026, 11, 4)]


def test_a_24h_window_every_hour_slides_by_the_hour(tmp_path: Path) -> None:
    cfg = _cfg(tmp_path, "{length: 24h, every: 1h}")
    assert window_for(cfg, datetime(2026, 11, 20, 7, 30)) == (datetime(2026, 11, 19, 7), datetime(2026, 11, 20, 7))
    day = _cfg(tmp_path, "{length: 24h, every: 6h, alignment: start_of_day}")
    assert window_for(day, datetime(2026, 11, 20, 13)) == (datetime(2026, 11, 19, 12), datetime(2026, 11, 20, 12))
    ends = window_ends(cfg, datetime(2026, 11, 1), datetime(2026, 11, 2, 3))
    assert ends[0] == datetime(2026, 11, 2) and ends[-1] == datetime(2026, 11, 2, 3) and len(ends) == 4
    ids = {run_id_for(cfg, e - timedelta(hours=24), e) for e in ends}
    assert len(ids) == 4  # one run (and lease) per (model, window start, end)


@pytest.mark.parametrize("window", ["{length: 24h, every: 25h}", "{length: 24h, every: 0s}",
                                    # two windows 30 s apart would share a run id (a window's start to the minute)
                                    "{length: 1h, every: 30s}",
                                    # start_of_day windows end at a midnight every day: a 2-day step can't hold
                                    "{length: 7d, every: 2d, alignment: start_of_day}"])
def test_a_step_that_cannot_be_kept_fails_at_start_naming_the_field(tmp_path: Path, window: str) -> None:
    with pytest.raises((ConfigError, ValueError), match="window.every"):
        _cfg(tmp_path, window)


def test_missed_windows_count_steps_not_lengths(tmp_path: Path) -> None:
    from monitor.stores.base import RunRecord

    cfg = _cfg(tmp_path, "{length: 24h, every: 1h}")
    prev = RunRecord("r", cfg.model, START, START + timedelta(hours=24), START, "ok", "{}")
    assert missed_windows(cfg, [(prev, 10)], START + HOUR) is None  # the next hour: nothing missed
    gap = missed_windows(cfg, [(prev, 10)], START + 4 * HOUR)
    assert gap is not None and gap["count"] == 3
    assert gap["from"] == (START + HOUR).isoformat() and gap["to"] == (START + timedelta(hours=27)).isoformat()


def test_hourly_runs_of_a_drifting_24h_window_page_once_and_profile_only_the_new_hour(tmp_path: Path, capsys) -> None:  # type: ignore[no-untyped-def]
    cfg = _cfg(tmp_path, "{length: 24h, every: 1h, min_rows: 200}")
    store = RecordingDuckDB(cfg.resolve(cfg.store.path))
    try:
        store.insert_frame(cfg.reference_table, simulate.reference(4000))
        logs, _ = simulate.traffic(7, 600, START, scenario="new_tire_batch")
        store.insert_frame("predictions", logs)
        hook = wiring.alert_hook(cfg, store)
        at = START + timedelta(days=6, minutes=20)
        runs, paged = [], []
        for h in range(8):
            store.sent.clear()
            runs.append(run_window(cfg, store, at + h * HOUR, alert_hook=hook))
            if h:  # the window's other 23 hours merge from state: one grouped scan of the new hour
                assert scanned_buckets(store) == [[(runs[-1].window.end.replace(tzinfo=None) - EPOCH) // HOUR - 1]]
            paged.append([line for line in capsys.readouterr().out.splitlines() if line.startswith("[")])
        assert len({r.run_id for r in runs}) == 8 and len(store.list_runs(cfg.model)) == 8
        assert [r.window.end.hour for r in runs] == list(range(8))
        assert all(r.rows > 0 for r in runs) and all(any(f.drifted for f in r.features) for r in runs)
        # One incident per (model, rule, subject): paged when it opens, then only as the cooldown (6h, on
        # window ends) reminds, not once an hour although every hourly window holds the drift. (Another
        # rule's incident may still change: a resolve is news.)
        drift = [[line for line in p if "feature drift" in line] for p in paged]
        assert [len(p) for p in drift] == [1, 0, 0, 0, 0, 0, 1, 0]
        assert "still:" in drift[6][0] and "still:" not in drift[0][0]
        opened = [i for i in store.alert_state().incidents(cfg.model) if i.status == "open"]
        assert len({(i.rule, i.subject) for i in opened}) == len(opened) >= 1
        assert max(i.last_window_end for i in opened) == runs[-1].window.end
    finally:
        store.close()
        wiring._notifiers.clear()
