"""One model's failure is its own: the others run, the failure is named and alerted once."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from monitor.api import wiring as service
from monitor.config import load_config_dir
from monitor.demo import simulate
from monitor.errors import ConfigError
from monitor.pipeline.failures import RunFailure
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import EXAMPLE, START


def _two_models(tmp_path: Path, broken: str) -> None:
    text = EXAMPLE.read_text() + "\nreport: {evidently: false}\nwindow: {length: 24h, min_rows: 200}\n"
    (tmp_path / "a-broken.yaml").write_text(text.replace("model: wheel-assembly", "model: a-broken")
                                            .replace("table: reference_wheel_assembly", "table: reference_a_broken")
                                            + broken)
    (tmp_path / "b-fine.yaml").write_text(text.replace("model: wheel-assembly", "model: b-fine")
                                          .replace("table: reference_wheel_assembly", "table: reference_b_fine"))
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    for name in ("reference_a_broken", "reference_b_fine"):
        store.insert_frame(name, simulate.reference(2000))
    for model in ("a-broken", "b-fine"):
        logs, _ = simulate.traffic(1, 300, START, scenario="none")
        store.insert_frame("predictions", logs.assign(model_name=model, request_id=model + logs["request_id"]))
    store.close()


def test_a_broken_model_gets_an_error_entry_and_an_alert_and_the_others_run(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _two_models(tmp_path, "labels: {table: labels, join_key: req_id, column: label}\n")
    store = DuckDBStore(tmp_path / "driftline.duckdb")
    store.upsert_labels("labels", simulate.traffic(1, 300, START, scenario="none")[1], "request_id")
    store.close()
    configs = load_config_dir(tmp_path)
    try:
        failures: list[RunFailure] = []
        summaries = service.run(configs, at=START + timedelta(days=1), failures=failures)
        assert [s.model for s in summaries] == ["b-fine"]
        [failed] = failures
        assert (failed.model, failed.phase, failed.error, failed.retryable) == ("a-broken", "check", "ConfigError", False)
        assert "labels.join_key: no column req_id in labels (closest: request_id)" in failed.detail
        console = capsys.readouterr().out
        assert "a-broken: run failed in check: ConfigError" in console
        service.run(configs, at=START + timedelta(days=1), failures=[])  # the scheduler's retry
        assert "run failed" not in capsys.readouterr().out  # told once
        with pytest.raises(ConfigError):  # without a failures list the first failure is raised, as before
            service.run(configs, at=START + timedelta(days=1))
    finally:
        service.close_stores()


def test_a_missing_table_is_retryable(tmp_path: Path) -> None:
    _two_models(tmp_path, "predictions: {table: not_there}\n")
    try:
        failures: list[RunFailure] = []
        summaries = service.run(load_config_dir(tmp_path), at=START + timedelta(days=1), failures=failures)
        assert [s.model for s in summaries] == ["b-fine"]
        assert [(f.model, f.phase, f.error, f.retryable) for f in failures] == [
            ("a-broken", "logs", "TableNotFound", True)]
    finally:
        service.close_stores()
