"""The demo week as a user sees it: at most one console message per run naming the drifted features;
concept drift pages on the important class once labels arrive, covariate shift warns on the estimate
before any label, the unchanged week raises nothing."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from monitor.api import wiring
from monitor.api import wiring as service
from monitor.demo.walkthrough import run_demo


def test_the_demo_week_sends_at_most_one_message_per_run_naming_the_drifted_features(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    days: list[list[str]] = []

    def progress(line: str) -> None:
        if line.startswith("Day "):
            print(f"@@ {line}")

    try:
        run_demo(tmp_path / "demo", per_day=800, progress=progress)
    finally:
        service.close_stores()
    for line in capsys.readouterr().out.splitlines():
        if line.startswith("@@ Day "):
            days.append([])
        elif days:
            days[-1].append(line)
    assert len(days) == 7
    messages = [[line for line in day if re.match(r"\[(WARN|CRITICAL|RESOLVED)\] ", line)] for day in days]
    assert all(len(m) <= 1 for m in messages), messages  # the console channel: one message per run at most
    assert sum(len(m) for m in messages) >= 2  # the drift is announced, and so is its end
    first = next(i for i, m in enumerate(messages) if m)
    drift_day = "\n".join(days[first])
    assert re.search(r"\b(fz_mean|fz_last|fz_range|tire_type)\b[^\n]* (up|down) [\d.]+ std", drift_day), drift_day


def _performance_alerts(directory: Path, scenario: str) -> list[tuple[str, str, str]]:
    try:
        runs = run_demo(directory, scenario=scenario, progress=lambda _: None)
    finally:
        wiring.close_stores()
        wiring._notifiers.clear()
    return [(a.severity, a.rule, a.message) for r in runs for a in r.alerts if "performance" in a.rule]


@pytest.mark.parametrize("scenario", ["concept_drift", "covariate_shift", "none"])
def test_the_demo_scenarios_raise_the_performance_alerts_they_should(tmp_path: Path, scenario: str) -> None:
    alerts = _performance_alerts(tmp_path / scenario, scenario)
    if scenario == "none":
        assert alerts == []
    elif scenario == "concept_drift":
        pages = [a for a in alerts if a[0] == "critical" and a[1] == "performance"]
        assert pages and pages[0][2].startswith("performance: recall_0 (important class) for the window of 19 Nov")
        assert not [a for a in alerts if a[1] == "estimated_performance"]  # the estimate cannot see concept drift
    else:
        estimated = [a for a in alerts if a[1] == "estimated_performance"]
        assert estimated and estimated[0][0] == "warn" and "estimated, no labels yet" in estimated[0][2]
        assert "19 Nov" in estimated[0][2]  # the first day of the shift, before any of its labels
