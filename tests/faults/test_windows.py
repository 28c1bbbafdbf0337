"""Windows complete before judged: `at` bounded to [first logged row, now] (API 400, CLI exit 2); backfill goes on."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from fastapi.testclient import TestClient

from monitor import cli
from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings
from monitor.errors import InvalidWindow
from monitor.pipeline.windows import complete_at, utcnow
from monitor.schema import faults
from tests.conftest import START
from tests.faults.conftest import Service


def _at(text: str) -> str:
    """A literal `at`, or "tomorrow" (a parameter id must be the same on every xdist worker)."""
    return (utcnow() + timedelta(days=1)).isoformat() if text == "tomorrow" else text


@pytest.mark.parametrize("at", ["0001-01-01", "9999-12-31", "2099-01-01", "tomorrow", "2026-11-15T12:00:00"])
def test_post_run_with_at_outside_the_logged_range_is_a_400_naming_the_range(svc: Service, at: str) -> None:
    client = TestClient(create_app(Settings(config_dir=str(svc.directory), auth_mode="local-open")))
    r = client.post("/run", params={"at": _at(at)})
    assert r.status_code == 400, r.text
    assert r.json()["error"] == "InvalidWindow" and "valid range [2026-11-16" in r.json()["detail"]
    assert service.open_store(svc.cfg).list_runs(svc.cfg.model) == []  # nothing stored, no 0-row "latest"


@pytest.mark.parametrize("at", ["0001-01-01", "2099-01-01", "tomorrow"])
def test_driftline_run_with_at_outside_the_range_exits_2_with_a_clear_line(
        svc: Service, at: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["run", "--config-dir", str(svc.directory), "--at", _at(at)]) == 2
    assert "InvalidWindow" in capsys.readouterr().err


def test_a_window_is_run_only_after_its_end_plus_the_grace(svc: Service) -> None:
    cfg = svc.cfg
    now = datetime(2026, 11, 20, 0, 10)  # 10 minutes past a window's end, inside the 15 min default grace
    assert cfg.window.grace == "15m"
    assert complete_at(cfg, None, now) == now - timedelta(minutes=15)  # -> the previous window
    assert complete_at(cfg, datetime(2026, 11, 20), now) == now - timedelta(minutes=15)
    with pytest.raises(InvalidWindow, match="future"):
        complete_at(cfg, now + timedelta(hours=1), now)


def test_backfill_goes_on_past_a_failed_window_and_lists_the_failures_with_a_nonzero_exit(
        svc: Service, capsys: pytest.CaptureFixture[str]) -> None:
    calls = []

    def fail_third(point: str) -> None:
        if point == "after_profile":
            calls.append(point)
            if len(calls) == 3:
                raise MemoryError("Out of Memory Error: failed to allocate (the census window)")

    faults.install(fail_third)
    try:
        code = cli.main(["-q", "backfill", "--config-dir", str(svc.directory), "--from", START.isoformat(),
                         "--to", (START + timedelta(days=5)).isoformat()])
    finally:
        faults.install(None)
    err = capsys.readouterr().err
    assert code == 1
    assert "1 of 5 windows failed" in err and "2026-11-18 00:00 → 2026-11-19 00:00: MemoryError" in err
    assert len(service.open_store(svc.cfg).list_runs(svc.cfg.model)) == 4  # the windows after it ran too
