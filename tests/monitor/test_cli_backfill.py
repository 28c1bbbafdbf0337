"""`driftline backfill` over a simulated week: history is stored, and nothing is sent unless --notify."""

from __future__ import annotations

from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest

from monitor import cli
from monitor.api import wiring as service
from monitor.demo import simulate
from monitor.demo.walkthrough import DEMO_START
from monitor.pipeline.ingest import ingest
from monitor.pipeline.models import load_model


def _week(directory: Path, per_day: int = 800) -> None:
    """The demo's config and data, ingested, with no window run yet."""
    (directory / "data").mkdir(parents=True)
    example = resources.files("monitor.demo.examples").joinpath("wheel-assembly.yaml").read_text()
    (directory / "wheel-assembly.yaml").write_text(example.replace("expected_rows: 2000", f"expected_rows: {per_day}"))
    cfg = load_model(directory / "wheel-assembly.yaml")
    simulate.reference(10_000).to_parquet(directory / "data" / "reference.parquet")
    logs, _ = simulate.traffic(7, per_day, DEMO_START, scenario="new_tire_batch")
    logs.to_parquet(directory / "data" / "predictions.parquet")
    store = service.open_store(cfg)
    ingest(store, cfg, "reference", directory / "data" / "reference.parquet")
    ingest(store, cfg, "predictions", directory / "data" / "predictions.parquet")


def _backfill(directory: Path, *extra: str) -> int:
    end = DEMO_START + timedelta(days=7)
    return cli.main(["backfill", "--config-dir", str(directory), "--from", DEMO_START.isoformat(),
                     "--to", end.isoformat(), *extra])


@pytest.mark.parametrize("notify", [False, True])
def test_backfill_sends_nothing_without_notify(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                               notify: bool) -> None:
    try:
        _week(tmp_path)
        assert _backfill(tmp_path, *(["--notify"] if notify else [])) == 0
        cfg = load_model(tmp_path / "wheel-assembly.yaml")
        state = service.open_store(cfg).alert_state()
        incidents = state.incidents(cfg.model)
        sent = [d for d in state.deliveries(cfg.model) if d.status == "delivered"]
        fired = [r.summary_json for r in service.open_store(cfg).list_runs(cfg.model, limit=10)]
    finally:
        service.close_stores()
    out = capsys.readouterr().out
    console = [line for line in out.splitlines() if line.startswith(("[WARN]", "[CRITICAL]", "[RESOLVED]"))]
    assert "feature_drift" in {i.rule for i in incidents}  # the history's incidents are stored either way
    if notify:
        assert console and sent
    else:
        assert console == [] and sent == []
        assert any('"rule":"feature_drift"' in f for f in fired)  # the stored runs still show what fired
