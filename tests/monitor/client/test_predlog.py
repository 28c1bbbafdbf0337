"""The prediction logger: never in the request's way, every row once, nothing lost to a short outage."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

import httpx
import numpy as np
import pytest
import uvicorn

from examples.serving_app import SIGNALS, create_app
from monitor.client.predlog import PredictionLogger
from monitor.config import load_model_config
from monitor.errors import StoreError, StoreUnavailable
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.conftest import EXAMPLE
from tests.monitor.stores.emulator import Emulator, free_port

# The predictions table `driftline init` creates from the example config: the one the app logs into.
LAYOUT = PredictionsLayout.from_model_config(load_model_config(EXAMPLE))


# -- the logger on its own, against a sink that fails on demand -------------------------------------


class FlakySink:
    """Records every batch; raises StoreUnavailable while `down` is set."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.attempts: list[tuple[str, ...]] = []
        self.rows: dict[str, dict[str, Any]] = {}

    def insert(self, rows: Sequence[dict[str, Any]], row_ids: Sequence[str]) -> None:
        self.attempts.append(tuple(row_ids))
        if self.down.is_set():
            raise StoreUnavailable("down")
        for rid, row in zip(row_ids, rows):
            self.rows[rid] = row


def _log(logger: PredictionLogger, i: int) -> bool:
    return logger.log(f"r{i}", datetime(2026, 1, 1, tzinfo=UTC), "m", "v1", {"x": float(i)}, 0.5, 1)


def test_a_failed_batch_is_retried_with_the_same_insert_ids() -> None:
    sink = FlakySink()
    sink.down.set()
    logger = PredictionLogger(sink, batch_size=10, flush_interval=0.01, backoff=0.01, max_backoff=0.02)
    for i in range(10):
        assert _log(logger, i)
    while len(sink.attempts) < 3:
        time.sleep(0.01)
    sink.down.clear()
    stats = logger.close(timeout=10)
    assert {a for a in sink.attempts} == {tuple(f"r{i}" for i in range(10))}
    assert stats.sent == 10 and stats.retries >= 2 and stats.failed == 0 and stats.dropped == 0


def test_a_full_queue_drops_and_counts_instead_of_blocking() -> None:
    sink = FlakySink()
    sink.down.set()
    logger = PredictionLogger(sink, queue_size=5, batch_size=1, flush_interval=0.01, backoff=0.01, max_backoff=0.02)
    accepted = [_log(logger, i) for i in range(50)]
    stats = logger.stats()
    assert stats.dropped == accepted.count(False) > 0
    sink.down.clear()
    stats = logger.close(timeout=10)
    assert stats.sent == stats.logged == accepted.count(True)
    assert set(sink.rows) == {f"r{i}" for i, ok in enumerate(accepted) if ok}


def test_non_finite_values_are_kept_as_bigquery_float_strings() -> None:
    sink = FlakySink()
    logger = PredictionLogger(sink, flush_interval=0.01)
    logger.log("a", datetime(2026, 1, 1), "m", "v1", {"x": float("nan"), "y": float("-inf"), "z": np.float32(1.5)},
               0.25, 0)
    logger.close()
    row = sink.rows["a"]
    assert (row["x"], row["y"], row["z"]) == ("NaN", "-Infinity", 1.5)
    assert row["ts"] == "2026-01-01T00:00:00+00:00"


def test_a_permanent_error_gives_up_on_the_batch_and_keeps_going() -> None:
    class Rejecting(FlakySink):
        def insert(self, rows: Sequence[dict[str, Any]], row_ids: Sequence[str]) -> None:
            if "r0" in row_ids:
                raise StoreError("no such column")
            super().insert(rows, row_ids)

    sink = Rejecting()
    logger = PredictionLogger(sink, batch_size=1, flush_interval=0.01)
    for i in range(3):
        _log(logger, i)
    stats = logger.close()
    assert (stats.failed, stats.sent) == (1, 2) and set(sink.rows) == {"r1", "r2"}


# -- the example app under load, streaming into the emulator ----------------------------------------


class ServedApp:
    """The example serving app under a real uvicorn on 127.0.0.1, in a thread."""

    def __init__(self, logger: PredictionLogger, app: Any = None) -> None:
        self.logger = logger
        self.port = free_port()
        config = uvicorn.Config(app or create_app(lambda: logger), host="127.0.0.1", port=self.port,
                                log_level="warning", lifespan="on")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    def __enter__(self) -> ServedApp:  # noqa: PYI034
        self.thread.start()
        while not self.server.started:
            assert self.thread.is_alive(), "uvicorn did not start"
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True  # lifespan shutdown closes (flushes) the logger
        self.thread.join(60)


def _sequence(rng: np.random.Generator) -> list[list[float]]:
    return rng.normal(size=(10, len(SIGNALS))).round(4).tolist()


def _post_all(port: int, ids: Sequence[str], seed: int, concurrency: int = 8) -> list[int]:
    """POST /predict once per id from `concurrency` concurrent clients (threads); the status codes."""
    rng = np.random.default_rng(seed)
    bodies = [{"sequence": _sequence(rng)} for _ in ids]

    def worker(k: int) -> list[int]:
        out = []
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=60) as client:
            for rid, body in list(zip(ids, bodies))[k::concurrency]:
                r = client.post("/predict", json=body, headers={"X-Request-ID": rid})
                if r.status_code == 200:
                    assert r.json()["class"] in (0, 1) and r.json()["request_id"] == rid
                out.append(r.status_code)
        return out

    with ThreadPoolExecutor(concurrency) as pool:
        return [code for codes in pool.map(worker, range(concurrency)) for code in codes]


@pytest.fixture
def predictions(bq_live: Emulator, bq_client: Any, bq_dataset: str) -> Iterator[tuple[BigQueryStore, str]]:
    store = BigQueryStore(bq_client, bq_dataset, layouts=[LAYOUT], retries=1, backoff=0.05, timeout=30)
    store.init()
    yield store, f"{bq_live.project}.{bq_dataset}.{LAYOUT.table}"


def _landed(client: Any, table: str) -> tuple[int, set[str]]:
    rows = list(client.query_and_wait(f"SELECT request_id FROM `{table}` WHERE ts >= TIMESTAMP '2000-01-01'"))
    return len(rows), {r["request_id"] for r in rows}


@pytest.mark.slow
def test_ten_thousand_predictions_land_exactly_once(bq_client: Any, predictions: tuple[BigQueryStore, str]) -> None:
    _, table = predictions
    logger = PredictionLogger.for_bigquery(bq_client, table, queue_size=20_000, batch_size=500,
                                           flush_interval=0.2, timeout=30)
    ids = [f"load-{i:05d}" for i in range(10_000)]
    with ServedApp(logger) as app:
        statuses = _post_all(app.port, ids, seed=1)
    assert statuses.count(200) == len(ids)
    stats = logger.stats()
    assert (stats.logged, stats.sent, stats.dropped, stats.failed) == (10_000, 10_000, 0, 0)
    count, landed = _landed(bq_client, table)
    assert count == 10_000 and landed == set(ids)


@pytest.mark.slow
def test_an_outage_costs_dropped_rows_never_a_request(bq_live: Emulator, bq_client: Any,
                                                      predictions: tuple[BigQueryStore, str]) -> None:
    _, table = predictions
    logger = PredictionLogger.for_bigquery(bq_client, table, queue_size=500, batch_size=100, flush_interval=0.05,
                                           backoff=0.05, max_backoff=0.5, timeout=10)
    before = [f"before-{i:04d}" for i in range(1000)]
    during = [f"during-{i:04d}" for i in range(3000)]
    with ServedApp(logger) as app:
        try:
            assert _post_all(app.port, before, seed=2).count(200) == len(before)
            # "Before the outage" means sent before it: on a loaded machine the logger's thread may still
            # hold some of them, which the outage would then (rightly) count as queued or dropped.
            deadline = time.monotonic() + 60
            while logger.stats().sent < len(before) and time.monotonic() < deadline:
                time.sleep(0.05)
            assert logger.stats().sent == len(before)
            bq_live.stop()
            # Every request is answered while BigQuery is down; rows beyond the queue are dropped.
            assert _post_all(app.port, during, seed=3).count(200) == len(during)
            waiting = logger.stats()
            assert waiting.queued > 0 and waiting.dropped > 0 and waiting.retries > 0
        finally:
            bq_live.start()
    stats = logger.stats()  # the app's shutdown closed the logger after the emulator came back
    assert stats.failed == 0 and stats.queued == 0
    assert stats.logged + stats.dropped == len(before) + len(during)
    assert stats.sent == stats.logged
    count, landed = _landed(bq_client, table)
    assert count == stats.sent  # each accepted row exactly once
    assert set(before) <= landed  # nothing logged before the outage was lost
    assert len(landed & set(during)) == stats.logged - len(before) > 0  # queued in the outage, landed after
