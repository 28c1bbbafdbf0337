"""Late labels re-checked at the cost of what changed: one grouped query for every window whose labels moved,
with the same counts as one query per window; the reference's bootstrap computed once per process."""

from __future__ import annotations

import math
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_model_config
from monitor.demo import simulate
from monitor.pipeline import performance as performance_run
from monitor.pipeline.labels import labelled_counts, rescore_changed, window_source
from monitor.pipeline.run import run_window
from tests.conftest import START, write_config
from tests.monitor.stores.recording import RecordingDuckDB


def _setup(tmp_path: Path) -> tuple[Any, RecordingDuckDB, Any]:
    path = write_config(tmp_path, report="{evidently: false}", window="{length: 24h, min_rows: 200}")
    cfg = load_model_config(path)
    store = RecordingDuckDB(cfg.resolve(cfg.store.path))
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(6, 500, START, scenario="concept_drift")
    store.insert_frame("predictions", logs)
    return cfg, store, labels


SIDE_BY_SIDE = [(START + timedelta(days=d), START + timedelta(days=d + 1)) for d in (0, 2, 3, 5)]
# A 24h window evaluated every hour: each row is in several windows (a grouped scan by window counted it
# once, in the first, so a window kept only the hours no other window covered).
OVERLAPPING = [(START + timedelta(hours=h), START + timedelta(hours=h + 24)) for h in (30, 0, 1, 12, 47)]


@pytest.mark.parametrize("windows", [SIDE_BY_SIDE, OVERLAPPING], ids=["side_by_side", "overlapping"])
def test_grouped_counts_equal_one_query_per_window(tmp_path: Path, windows: list) -> None:
    cfg, store, labels = _setup(tmp_path)
    store.upsert_labels("labels", labels.sample(frac=0.7, random_state=1), "request_id")
    grouped = performance_run.windows_counts(cfg, store, window_source(cfg, store, START, START + timedelta(days=6)),
                                             windows)
    for (start, end), (counts, hist, disagree) in zip(windows, grouped, strict=True):
        one = performance_run._counts(store, window_source(cfg, store, start, end), cfg, "__label",
                                      performance_run.served_column(cfg, store, "predictions"))
        for got, want in ((asdict(counts), asdict(one[0])), (asdict(hist), asdict(one[1]))):
            for key, value in got.items():
                if isinstance(value, float):
                    assert math.isclose(value, want[key], rel_tol=1e-12), key
                elif isinstance(value, tuple) and value and isinstance(value[0], float):
                    assert all(math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-12) for a, b in zip(value, want[key]))
                else:
                    assert value == want[key], key
        assert disagree == one[2]
        assert counts.labelled > 0
    direct = [performance_run._counts(store, window_source(cfg, store, s, e), cfg, "__label")[0].labelled
              for s, e in windows]
    assert labelled_counts(cfg, store, windows) == direct


def test_a_refresh_of_many_windows_sends_one_performance_query(tmp_path: Path) -> None:
    cfg, store, labels = _setup(tmp_path)
    for d in range(1, 6):
        run_window(cfg, store, START + timedelta(days=d))  # five windows, no labels yet
    store.upsert_labels("labels", labels, "request_id")
    store.sent.clear()
    refreshed = rescore_changed(cfg, store, now=START + timedelta(days=6))
    assert len(refreshed) == 5
    performance = [q for q in store.sent if "brier4" in q.sql]
    assert len(performance) == 1 and "AS g" in performance[0].sql
    store.sent.clear()
    assert rescore_changed(cfg, store, now=START + timedelta(days=6)) == []
    assert not [q for q in store.sent if "brier4" in q.sql]  # nothing moved: only the cheap count


def test_the_reference_bootstrap_runs_once_per_process(tmp_path: Path, monkeypatch: Any) -> None:
    cfg, store, _ = _setup(tmp_path)
    calls = []
    real = performance_run.reference_performance
    monkeypatch.setattr(performance_run, "reference_performance", lambda *a: calls.append(1) or real(*a))
    performance_run._reference.cache_clear()
    first = performance_run.reference_state(cfg, store)
    assert performance_run.reference_state(cfg, store) is not None and first is not None
    assert len(calls) == 1
