"""Evidently's report off the run's critical path: samples kept, built once, later, whole or not at all."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import timedelta
from pathlib import Path

import pandas as pd

from monitor.config import ModelConfig
from monitor.pipeline import report_jobs
from monitor.pipeline.run import run_window
from monitor.stores.duckdb import DuckDBStore
from reports.pages import run_page
from tests.conftest import START


class Builder:
    """A ReportBuilder writing a small HTML file (Evidently itself is tested in tests/reports)."""

    def __init__(self, fail: bool = False, gate: threading.Event | None = None) -> None:
        self.calls: list[tuple[int, int, str | None]] = []
        self.fail, self.gate = fail, gate

    def __call__(self, current: pd.DataFrame, reference: pd.DataFrame, *, numerical: Sequence[str],
                 categorical: Sequence[str], path: Path, target: str | None, prediction: str | None,
                 title: str) -> Path | None:
        if self.gate is not None:
            self.gate.wait(10)
        self.calls.append((len(current), len(reference), target))
        if self.fail:
            report_jobs.error_path(path).write_text("ValueError: no columns")
            return None
        path.write_text(f"<html>{title}: {len(current)} rows</html>")
        return path


def _save(path: Path) -> None:
    frame = pd.DataFrame({"x": [1.0, 2.0, 3.0], "label": [1, 0, 1]})
    report_jobs.save_samples(path, frame, frame.head(2), numerical=["x"], categorical=[], target="label",
                             prediction=None, title="m run")


def test_a_saved_job_is_pending_then_built_from_the_same_samples_and_its_samples_deleted(tmp_path: Path) -> None:
    path = tmp_path / "reports" / "run.html"
    assert report_jobs.state(path) == "none" and report_jobs.state(None) == "none"
    _save(path)
    assert report_jobs.state(path) == "pending"
    builder = Builder()
    assert report_jobs.build(path, builder) == path
    assert builder.calls == [(3, 2, "label")]
    assert report_jobs.state(path) == "built" and path.read_text() == "<html>m run: 3 rows</html>"
    assert not report_jobs.samples_dir(path).exists()
    assert not list(path.parent.glob("*.part*"))  # written aside, then renamed whole


def test_a_failed_build_says_why_where_the_page_looks(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    _save(path)
    assert report_jobs.build(path, Builder(fail=True)) is None
    assert report_jobs.state(path) == "failed" and not path.exists()
    assert report_jobs.error_path(path).read_text() == "ValueError: no columns"


def test_background_jobs_build_each_report_once(tmp_path: Path) -> None:
    path = tmp_path / "run.html"
    _save(path)
    gate = threading.Event()
    builder = Builder(gate=gate)
    jobs = report_jobs.ReportJobs(builder)
    first = jobs.submit(path)
    assert first is not None and jobs.submit(path) is first and jobs.building(path)  # asked twice, built once
    gate.set()
    assert first.result(10) == path
    assert jobs.submit(path) is None and not jobs.building(path)  # built: nothing more to do
    jobs.shutdown()
    assert len(builder.calls) == 1


def test_a_run_stores_its_verdicts_without_building_the_report(cfg: ModelConfig) -> None:
    from monitor.demo import simulate

    on = cfg.model_copy(update={"report": cfg.report.model_copy(update={"evidently": True})})
    store = DuckDBStore(on.resolve(on.store.path))
    store.insert_frame(on.reference_table, simulate.reference(3000))
    logs, labels = simulate.traffic(1, 600, START, scenario="none")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    builder = Builder()
    summary = run_window(on, store, START + timedelta(days=1), report_builder=builder)
    store.close()
    path = Path(summary.extra["report_path"])
    assert builder.calls == [] and report_jobs.state(path) == "pending"  # the run did not wait for it
    assert "phases" in summary.extra and "samples" in summary.extra["phases"]
    page = run_page(summary, [], evidently_url=None, evidently_pending=True)
    assert "id=evidently-pending" in page and "being built" in page
    assert report_jobs.build(path, builder) == path and builder.calls[0][0] == 600 and builder.calls[0][2] == "label"
