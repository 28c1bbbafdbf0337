"""The demo week as a user sees it on the console: at most one message per model per run."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

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
