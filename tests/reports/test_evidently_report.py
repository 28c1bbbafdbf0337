"""Evidently's place: a failed build leaves its reason, and the page shows it."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import pandas as pd

from monitor.schema.summary import RunSummary, Window
from reports.evidently_report import build_report, error_path
from reports.pages import run_page


def test_a_failed_build_leaves_its_reason_and_the_page_shows_it(tmp_path: Path) -> None:
    path = tmp_path / "r.html"
    frame = pd.DataFrame({"x": [1.0, 2.0]})
    assert build_report(frame, frame, numerical=["missing"], categorical=[], path=path) is None
    reason = error_path(path).read_text()
    assert reason and not path.exists()
    s = RunSummary(run_id="r", model="m", window=Window(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2)),
                   rows=2, rows_rejected=0, features=[], drift_share=0.0, dataset_drift=False,
                   prediction_drift=None, label_drift=None, data_quality={}, report_url="/report/r")
    html = run_page(s, [], evidently_url=None, evidently_error=reason)
    assert "Evidently's report could not be built: KeyError" in html and reason.split(":")[0] in html
    linked = run_page(s, [], evidently_url="/report/r/evidently")
    assert "bounded random sample" in linked and "not Driftline's verdicts" in linked
