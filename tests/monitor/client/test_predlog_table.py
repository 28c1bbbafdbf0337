"""One schema from the served model to the run: the example app logs into the table `init` made from the config."""

from __future__ import annotations

import itertools
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from examples.serving_app import FEATURES, create_app
from monitor.client.predlog import PredictionLogger
from monitor.config import load_model_config
from monitor.demo import simulate
from monitor.errors import StoreError
from monitor.pipeline.run import run_window
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.conftest import START, write_config
from tests.monitor.client.test_predlog import ServedApp, _sequence
from tests.monitor.stores.emulator import Emulator


def _clock(start: datetime) -> Any:
    """A clock for the app: one second later on every call (thread-safe), inside one day's window."""
    ticks, lock = itertools.count(), threading.Lock()

    def now() -> datetime:
        with lock:
            return (start + timedelta(seconds=next(ticks))).replace(tzinfo=UTC)

    return now


def _post(port: int, n: int, seed: int) -> list[int]:
    import httpx

    rng = np.random.default_rng(seed)
    tires = rng.choice(simulate.TIRE_TYPES, size=n, p=simulate.TIRE_SHARES)
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
        return [client.post("/predict", json={"sequence": _sequence(rng), "tire_type": str(tires[i])},
                            headers={"X-Request-ID": f"srv-{i:05d}"}).status_code for i in range(n)]


@pytest.mark.slow
def test_the_example_app_logs_into_the_table_init_made_and_a_run_profiles_every_feature(
        tmp_path: Path, bq_live: Emulator, bq_client: Any, bq_dataset: str) -> None:
    write_config(tmp_path, report="{evidently: false}")
    cfg = load_model_config(tmp_path / "wheel-assembly.yaml")
    store = BigQueryStore(bq_client, bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1,
                          backoff=0.05, timeout=30)
    store.init()  # what `driftline init` runs: the only definition of the table
    table = f"{bq_live.project}.{bq_dataset}.{cfg.predictions.table}"
    logger = PredictionLogger.for_bigquery(bq_client, table, features=FEATURES, batch_size=200,
                                           flush_interval=0.1, timeout=30)
    with ServedApp(logger, app=create_app(lambda: logger, clock=_clock(START + timedelta(hours=1)))) as app:
        assert _post(app.port, 1000, seed=5).count(200) == 1000
    stats = logger.stats()
    assert (stats.sent, stats.failed, stats.dropped) == (1000, 0, 0)  # no row rejected

    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    summary = run_window(cfg, store, START + timedelta(days=1))
    assert summary.rows == 1000 and {f.name for f in summary.features} == {f.name for f in cfg.features}
    # Every monitored feature (tire_type and fz_range's two columns included) arrived: no NULL from logging.
    assert {name: q.null_rate for name, q in summary.data_quality.items()} == {f.name: 0.0 for f in cfg.features}
    assert all(f.status != "insufficient_data" for f in summary.features)
    assert summary.model_version == "v1" and summary.model_versions == {"v1": 1.0}


def test_a_record_shape_the_table_would_not_take_is_refused_at_start_up(
        tmp_path: Path, bq_live: Emulator, bq_client: Any, bq_dataset: str) -> None:
    cfg = load_model_config(write_config(tmp_path))
    store = BigQueryStore(bq_client, bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1,
                          backoff=0.05, timeout=30)
    store.init()
    table = f"{bq_live.project}.{bq_dataset}.predictions"
    # The app as it was: 40 aggregates, no tire type, which the config monitors.
    with pytest.raises(StoreError, match="tire_type"):
        PredictionLogger.for_bigquery(bq_client, table, features=[f for f in FEATURES if f != "tire_type"])
    with pytest.raises(StoreError, match="request_id"):
        PredictionLogger.for_bigquery(bq_client, f"{bq_live.project}.{bq_dataset}.driftline_state", features=FEATURES)
    with pytest.raises(StoreError, match="driftline init"):
        PredictionLogger.for_bigquery(bq_client, f"{bq_live.project}.{bq_dataset}.nope")
    logger = PredictionLogger.for_bigquery(bq_client, table, features=FEATURES, flush_interval=0.05)
    # Logged values the table does not monitor (fx_std, say) are not sent: no "no such field" rejection.
    row = {f: 1.0 for f in FEATURES} | {"tire_type": "R17-sport"}
    assert logger.log("one", START, "wheel-assembly", "v1", row, 0.9, 1)
    assert logger.close().sent == 1
    got = list(bq_client.query_and_wait(f"SELECT tire_type, fz_max FROM `{table}` WHERE ts >= TIMESTAMP '2000-01-01'"))
    assert [(r["tire_type"], r["fz_max"]) for r in got] == [("R17-sport", 1.0)]

