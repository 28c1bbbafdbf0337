"""`/`'s one word per model: the latest window's worst finding."""

from __future__ import annotations

from datetime import datetime

from monitor.schema.summary import FeatureVerdict, RunSummary, Window
from reports.overview import ModelRow, overview_page, status


def _run(**kw) -> RunSummary:  # type: ignore[no-untyped-def]
    base = {"run_id": "r", "model": "m", "window": Window(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2)),
            "rows": 500, "rows_rejected": 0, "features": [], "drift_share": 0.0, "dataset_drift": False,
            "prediction_drift": None, "label_drift": None, "data_quality": {}, "report_url": "/report/r"}
    return RunSummary(**{**base, **kw})


def test_status_is_the_worst_finding() -> None:
    drifted = [FeatureVerdict(name="a", kind="numerical", statistic="psi", value=1, threshold=0.1, drifted=True)]
    drop = {"metrics": {"accuracy": {"value": 0.5, "verdict": "drop"}}}
    problem = {"checks": [{"check": "null_rate", "subject": "a", "status": "problem"}]}
    assert status(None) == "no data" and status(_run(rows=0)) == "no data"
    assert status(_run()) == "ok"
    assert status(_run(features=drifted)) == "drift"
    assert status(_run(features=drifted, quality=problem)) == "data problem"
    assert status(_run(features=drifted, quality=problem, performance=drop)) == "performance drop"


def test_the_page_lists_every_model_even_without_runs() -> None:
    html = overview_page([ModelRow("with-runs", [_run(model="with-runs")]), ModelRow("never-run")])
    assert "data-model='with-runs' data-status='ok'" in html and "data-model='never-run'" in html
    assert html.count("<script src=") == 1
