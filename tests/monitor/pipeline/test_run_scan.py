"""What a run reads: labels only since the window began, the versions it saw, and every query in its bytes."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pandas as pd

from monitor.config import ModelConfig
from monitor.demo import simulate
from monitor.pipeline.run import run_window
from monitor.sql.queries import Query
from monitor.stores.base import RunRecord
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START


class MeteredStore(DuckDBStore):
    """DuckDB, metering one "byte" per query so a run's bytes_processed counts its queries."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.queries = 0
        self.at_save = -1

    def query(self, q: Query) -> list[dict[str, Any]]:
        self.queries += 1
        return super().query(q)

    def query_frame(self, q: Query) -> pd.DataFrame:
        self.queries += 1
        return super().query_frame(q)

    def save_run(self, record: RunRecord) -> bool:
        self.at_save = self.queries
        return super().save_run(record)

    @property
    def bytes_processed(self) -> int:
        return self.queries


def _store(cfg: ModelConfig, tmp_path: Path, cls: type[DuckDBStore] = DuckDBStore) -> DuckDBStore:
    store = cls(tmp_path / "scan.duckdb")
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    return store


def test_a_window_with_no_labels_yet_runs_and_its_performance_is_not_yet_known(cfg: ModelConfig,
                                                                               tmp_path: Path) -> None:
    store = _store(cfg, tmp_path)
    logs, labels = simulate.traffic(1, 2000, START, scenario="none")  # > 127 rows in a probability bin
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels.iloc[0:0], "request_id")
    summary = run_window(cfg, store, START + timedelta(days=1))
    assert summary.rows == 2000 and summary.performance is not None
    assert summary.performance["coverage"]["labelled"] == 0


def test_the_label_join_reads_labels_from_the_window_start_and_versions_are_counted(cfg: ModelConfig,
                                                                                     tmp_path: Path) -> None:
    store = _store(cfg, tmp_path)
    logs, labels = simulate.traffic(1, 1000, START, scenario="none")
    logs["model_version"] = ["v2" if i % 10 < 3 else "v1" for i in range(len(logs))]
    store.insert_frame("predictions", logs)
    # A label "arriving" before the window began cannot be this window's: it is not read.
    labels.loc[labels.index[:100], "labelled_at"] = START - timedelta(days=3)
    store.upsert_labels("labels", labels, "request_id")
    summary = run_window(cfg, store, START + timedelta(days=1))
    assert summary.performance is not None and summary.performance["coverage"]["labelled"] == len(labels) - 100
    assert summary.model_version == "v1" and summary.model_versions == {"v1": 0.7, "v2": 0.3}


def test_a_runs_bytes_include_the_late_label_refresh_and_alert_queries(cfg: ModelConfig, tmp_path: Path) -> None:
    store = _store(cfg, tmp_path, MeteredStore)
    assert isinstance(store, MeteredStore)
    logs, labels = simulate.traffic(3, 600, START, scenario="none")
    store.insert_frame("predictions", logs)
    run_window(cfg, store, START + timedelta(days=1))
    store.upsert_labels("labels", labels, "request_id")  # labels of day 1 arrive late
    seen: list[int] = []

    def hook(summary: Any, history: Any, **_: Any) -> list[Any]:
        seen.append(store.queries)
        return []

    before = store.queries
    summary = run_window(cfg, store, START + timedelta(days=3), alert_hook=hook)
    assert seen and store.at_save > seen[0]  # the refresh of day 1 ran after the alert hook, before the save
    assert summary.extra["bytes_processed"] == store.at_save - before
