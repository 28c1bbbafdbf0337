"""The run page's performance parts: the important class's row and charts, the history of a window's values."""

from __future__ import annotations

import re

from monitor.schema.summary import RunSummary
from reports.pages import run_page
from tests.alerts.conftest import make_summary


def _perf(status: str, fraction: float, recall: float, key_class: int, computed_at: str) -> dict[str, object]:
    metrics = {name: {"value": v, "interval": [v - 0.04, v + 0.04], "reference": 0.55, "verdict": "ok"}
               for name, v in (("recall_0", 0.9), ("recall_1", recall), ("accuracy", 0.8), ("roc_auc", 0.85))}
    return {"status": status, "key_class": key_class, "computed_at": computed_at,
            "coverage": {"labelled": int(fraction * 1000), "predictions": 1000, "fraction": fraction},
            "metrics": metrics}


def _summary(key_class: int) -> RunSummary:
    s = make_summary(0)
    s.performance = _perf("final", 1.0, 0.28, key_class, "2026-03-04T00:00:00")
    s.performance_history = [_perf("provisional", 0.3, 0.31, key_class, "2026-03-02T00:00:00"),
                             _perf("provisional", 0.8, 0.29, key_class, "2026-03-03T00:00:00")]
    return s


def test_a_model_whose_important_class_is_1_gets_its_row_and_charts_on_class_1() -> None:
    page = run_page(_summary(1), [], evidently_url=None)
    charts = re.findall(r"data-chart=performance data-metric='([^']*)'", page)
    assert "recall_1" in charts and "recall_0" not in charts
    assert "<tr data-important=1><td><b>recall_1</b> (important class)" in page
    assert "data-important=1><td><b>recall_0" not in page
    wheel = run_page(_summary(0), [], evidently_url=None)
    assert "recall_0" in re.findall(r"data-chart=performance data-metric='([^']*)'", wheel)


def test_the_page_shows_how_a_window_value_changed_as_its_labels_arrived() -> None:
    page = run_page(_summary(1), [], evidently_url=None)
    table = page[page.index("<table id=performance-history>"):]
    table = table[: table.index("</table>")]
    rows = re.findall(r"<tr><td>([^<]*)</td><td>([^<]*)</td><td>([^<]*)</td><td>([0-9.]+) ", table)
    assert rows == [("2026-03-02T00:00:00", "0.3", "provisional", "0.31"),
                    ("2026-03-03T00:00:00", "0.8", "provisional", "0.29"),
                    ("2026-03-04T00:00:00", "1", "final", "0.28")]


def test_the_page_says_what_the_run_processed_on_bigquery_and_its_on_demand_cost() -> None:
    s = make_summary(0)
    s.extra["bytes_processed"] = 3 * 2**30  # 3 GiB
    page = run_page(s, [], evidently_url=None)
    # 3 GiB = 3,221.2 MB; at $6.25 per TiB: 3/1024 * 6.25 = $0.0183.
    assert "This run processed 3,221.2 MB on BigQuery (est. $0.0183 at on-demand prices" in page
    s.extra["bytes_processed"] = 0  # DuckDB meters nothing: no line rather than a misleading $0
    assert "id=cost" not in run_page(s, [], evidently_url=None)
