"""The demo's performance story: concept drift pages on the important class once labels arrive,
covariate shift warns on the estimate before any label, the unchanged week raises nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.api import wiring
from monitor.demo.walkthrough import run_demo


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
