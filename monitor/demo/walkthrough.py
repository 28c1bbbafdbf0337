"""The newcomer's demo: a simulated week of wheel-assembly traffic, monitored day by day."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from importlib import resources
from pathlib import Path

from monitor.api import wiring as service
from monitor.demo import simulate
from monitor.pipeline.ingest import ingest
from monitor.pipeline.models import load_model
from monitor.schema.summary import RunSummary

DEMO_START = datetime(2026, 11, 16)


def run_demo(directory: Path, *, scenario: str = "new_tire_batch", days: int = 7, per_day: int = 2000,
             progress: Callable[[str], None] = print,
             show: Callable[[RunSummary], None] | None = None) -> list[RunSummary]:
    """Write config and data into `directory`, ingest them, run one window per day."""
    directory.mkdir(parents=True, exist_ok=True)
    data = directory / "data"
    data.mkdir(exist_ok=True)
    cfg_path = directory / "wheel-assembly.yaml"
    example = resources.files("monitor.demo.examples").joinpath("wheel-assembly.yaml").read_text()
    cfg_path.write_text(example.replace("expected_rows: 2000", f"expected_rows: {per_day}"))
    for stale in (directory / "driftline.duckdb", directory / "driftline.duckdb.wal"):
        stale.unlink(missing_ok=True)  # a fresh store each time: the demo is a replay
    cfg = load_model(cfg_path)
    progress(f"Simulating {days} days x {per_day} assemblies of the wheel-assembly model "
             f"(scenario '{scenario}': {simulate.SCENARIOS[scenario].description}, from day 4)")
    simulate.reference(10_000).to_parquet(data / "reference.parquet")
    logs, labels = simulate.traffic(days, per_day, DEMO_START, scenario=scenario)
    logs.to_parquet(data / "predictions.parquet")
    store = service.open_store(cfg)
    for target, file in (("reference", "reference.parquet"), ("predictions", "predictions.parquet")):
        rep = ingest(store, cfg, target, data / file)  # type: ignore[arg-type]
        progress(f"  ingested {rep.rows_loaded:,} {target} rows ({rep.rows_rejected} rejected)")
    summaries: list[RunSummary] = []
    for day in range(days):
        run_at = DEMO_START + timedelta(days=day + 1)
        # Labels come from the lab days later: only those that have arrived by the run are loaded.
        arrived = labels[(labels["labelled_at"] <= run_at)]
        arrived_file = data / f"labels-{day + 1}.csv"
        arrived.to_csv(arrived_file, index=False)
        ingest(store, cfg, "labels", arrived_file)
        progress(f"Day {day + 1}: running the window {run_at - timedelta(days=1):%Y-%m-%d} ...")
        s = service.run({cfg.model: cfg}, at=run_at)[0]
        summaries.append(s)
        if show is not None:
            show(s)
    return summaries
