"""N concurrent POST /run of one window deliver each alert once, on DuckDB (real uvicorn) and on the BigQuery emulator."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import Settings, load_config_dir
from monitor.demo import simulate
from monitor.errors import RunInProgress
from monitor.pipeline.lease import leased
from monitor.schema.alerting import Delivery
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.alerts.fakes.http import FakeServer
from tests.conftest import START, write_config
from tests.faults.conftest import AT, Service, channels_yaml
from tests.monitor.api.test_app import _free_port, serve
from tests.monitor.stores.emulator import Emulator


def _together(n: int, call: Any) -> list[Any]:
    """`call()` from n threads released at once; their results (or exceptions)."""
    gate, out = threading.Barrier(n), [None] * n

    def go(i: int) -> None:
        gate.wait()
        try:
            out[i] = call()
        except Exception as exc:  # noqa: BLE001 - the test looks at what each caller got
            out[i] = exc

    threads = [threading.Thread(target=go, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    return out


@pytest.mark.parametrize("n", [3, 5])
def test_concurrent_post_run_of_one_window_on_duckdb_sends_each_alert_once(svc: Service, n: int) -> None:
    app = create_app(Settings(config_dir=str(svc.directory), auth_mode="local-open"))
    port = _free_port()
    server, thread = serve(app, port)
    try:
        replies = _together(n, lambda: httpx.post(f"http://127.0.0.1:{port}/run", params={"at": AT.isoformat()},
                                                  timeout=120))
    finally:
        server.should_exit = True
        thread.join(10)
    assert all(r.status_code in (200, 409) for r in replies), [r.text[:200] for r in replies]
    ids = {r.json()[0]["run_id"] for r in replies if r.status_code == 200}
    assert len(ids) == 1
    assert svc.sent() == (1, 1)  # one Slack message and one SMS were due


@pytest.fixture
def bq_svc(tmp_path: Path, bq_live: Emulator, bq_dataset: str,
           fakes: tuple[FakeServer, FakeServer]) -> Iterator[Service]:
    slack, twilio = fakes
    write_config(tmp_path, store=f"{{kind: bigquery, project: {bq_live.project}, dataset: {bq_dataset}}}",
                 report="{evidently: false}", window="{length: 24h, min_rows: 200, expected_rows: 300}",
                 channels=channels_yaml(slack.url, twilio.url),
                 alerts="{feature_drift: {statistics: {wasserstein: {critical: 0.01}}}}")
    configs = load_config_dir(tmp_path)
    cfg = configs["wheel-assembly"]
    store = BigQueryStore(bq_live.client(), bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)],
                          retries=3, backoff=0.05, timeout=60)
    store.init()
    logs, labels = simulate.traffic(4, 300, START, scenario="new_tire_batch")
    store.insert_frame(cfg.reference_table, simulate.reference(2000))
    store.insert_frame(cfg.predictions.table, logs)
    store.upsert_labels("labels", labels, "request_id")
    key = f"bigquery:{cfg.store.project}.{cfg.store.dataset}"
    service._stores[key] = store
    service._notifiers.pop(cfg.model, None)
    service.register(configs)
    yield Service(tmp_path, configs, slack, twilio)
    service._stores.pop(key, None)
    service._notifiers.pop(cfg.model, None)


@pytest.mark.slow
def test_concurrent_runs_of_one_window_on_bigquery_send_each_alert_once(bq_svc: Service) -> None:
    # The audit's finding: 3 concurrent POST /run sent 11 Slack messages and 2 SMS where 4 and 1 were due.
    results = _together(3, lambda: service.run(bq_svc.configs, at=AT, failures=[]))
    assert all(isinstance(r, list) for r in results), results
    assert bq_svc.sent() == (1, 1)
    store = service.open_store(bq_svc.cfg)
    assert len(store.list_runs(bq_svc.cfg.model)) == 1


def test_the_bigquery_lease_and_the_outbox_claim_have_one_winner_among_concurrent_callers(
        bq_live: Emulator, bq_dataset: str) -> None:
    """One conditional MERGE (lease) and one conditional UPDATE (claim) on the emulator, 5 callers each."""
    store = BigQueryStore(bq_live.client(), bq_dataset, retries=3, backoff=0.05, timeout=60)
    store.init()
    now = datetime(2026, 12, 1)
    won = _together(5, lambda: store.take_lease("m-w", f"{threading.get_ident()}", now, now + timedelta(minutes=5)))
    assert won.count(True) == 1, won
    assert store.take_lease("m-w", "late", now + timedelta(hours=1), now + timedelta(hours=2))  # expired: taken over
    state = store.alert_state()
    state.add_deliveries([Delivery(key="k", model="m", run_key="r", rule="x", subject="s", channel="slack",
                                   severity="warn", payload="{}", window_end=now, position=0, created_at=now)])
    claims = _together(5, lambda: state.claim_delivery("k", f"{threading.get_ident()}", now, now + timedelta(minutes=5)))
    assert claims.count(True) == 1, claims


def test_a_second_caller_waits_briefly_then_is_told_the_run_is_in_progress(svc: Service) -> None:
    store = service.open_store(svc.cfg)
    now = datetime(2026, 12, 1)
    assert store.take_lease("wheel-assembly-x", "someone-else:1:abc", now, now + timedelta(minutes=30))
    with pytest.raises(RunInProgress, match="in progress"), leased(store, "wheel-assembly-x", svc.cfg, now,
                                                                    lambda: None, wait=0.3):
        pass
