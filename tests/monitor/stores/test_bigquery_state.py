"""Alerting's state on BigQuery (the emulator) behaves exactly as on DuckDB: the same tests run on both."""

from __future__ import annotations

import io
from collections.abc import Callable, Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pandas as pd
import pytest
from fastapi.testclient import TestClient

from alerts.base import Message
from alerts.console import ConsoleNotifier
from monitor.api import wiring as service
from monitor.api.app import create_app
from monitor.config import ModelConfig, Settings, load_config_dir
from monitor.demo import simulate
from monitor.errors import NotifierRetryable, TableNotFound
from monitor.pipeline.labels import refresh_performance
from monitor.schema.alerting import AlertState, Delivery, Incident, Silence
from monitor.schema.summary import RunSummary
from monitor.stores.bigquery.state import (
    INCIDENTS_SCHEMA,
    INCIDENTS_TABLE,
    META_TABLE,
    OUTBOX_TABLE,
    SILENCES_TABLE,
    BigQueryAlertState,
)
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import Harness, make_summary
from tests.conftest import START, write_config
from tests.monitor.stores.emulator import Emulator

T0 = datetime(2026, 3, 1, tzinfo=UTC)
WARN = {"force_z": 0.42}  # one feature drifted: feature drift warn
CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}  # share 5/8: critical

Reopen = Callable[[], Any]  # a fresh state object on the same tables, as after a restart
Service = tuple[dict[str, ModelConfig], BigQueryStore]


def bq_store(client: Any, dataset: str) -> BigQueryStore:
    return BigQueryStore(client, dataset, retries=1, backoff=0.05, timeout=120)


@pytest.fixture(params=["duckdb", "bigquery"])
def reopen(request: pytest.FixtureRequest, tmp_path: Path) -> Reopen:
    """Opens the alert state of one location; every call is a new object, as a restarted service has."""
    if request.param == "duckdb":
        return lambda: DuckDBAlertState(tmp_path / "alerts.duckdb")
    client, dataset = request.getfixturevalue("bq_client"), request.getfixturevalue("bq_dataset")
    bq_store(client, dataset).init()
    return lambda: bq_store(client, dataset).alert_state()


def _row(key: str, hour: int, position: int = 0, channel: str = "slack", model: str = "m") -> Delivery:
    end = T0 + timedelta(hours=hour)
    return Delivery(key=key, model=model, run_key=f"r{hour}", rule="r", subject="s", channel=channel,
                    severity="warn", payload='{"x": "é"}', window_end=end, position=position, created_at=end)


def test_the_outbox_inserts_absent_keys_and_lists_pending_oldest_first(reopen: Reopen) -> None:
    state: AlertState = reopen()
    assert state.add_deliveries([_row("b", 2), _row("a", 1, 1), _row("c", 1, 0), _row("b", 9)]) == 3
    assert state.add_deliveries([_row("a", 1, 1), _row("d", 3), _row("e", 0, model="other")]) == 2
    assert state.add_deliveries([]) == 0
    state.update_delivery(replace(_row("d", 3), status="delivered"))
    assert [d.key for d in state.pending_deliveries("m")] == ["c", "a", "b"]
    assert [d.window_end for d in reopen().pending_deliveries("m")][-1] == T0 + timedelta(hours=2)  # not hour 9
    assert reopen().pending_deliveries("nobody") == []


def test_a_delivery_round_trips_every_field_with_aware_utc_times(reopen: Reopen) -> None:
    state = reopen()
    row = _row("k", 4, position=3)
    state.add_deliveries([row])
    assert reopen().pending_deliveries("m") == [row]  # None stays None, times come back aware UTC
    waiting = replace(row, attempts=2, next_attempt_at=T0 + timedelta(hours=5, microseconds=7),
                      last_error="HTTP 503 'quoted' \\ back")
    state.update_delivery(waiting)
    assert reopen().pending_deliveries("m") == [waiting]
    done = replace(waiting, status="delivered", attempts=3, next_attempt_at=None, last_error="",
                   delivered_at=T0 + timedelta(hours=6))
    state.update_delivery(done)
    assert reopen().pending_deliveries("m") == []
    [stored] = [d for d in reopen().deliveries("m")]
    assert stored == done and stored.delivered_at is not None and stored.delivered_at.tzinfo is not None


def test_incidents_upsert_by_model_rule_subject_and_meta_keeps_the_last_value(reopen: Reopen) -> None:
    state = reopen()
    inc = Incident("m", "r", "s", "open", "warn", T0, T0, "warn", T0, "k")
    state.save_incidents([inc, replace(inc, subject="t")])
    state.save_incidents([replace(inc, severity="critical"), replace(inc, severity="warn", last_run_key="k2")])
    state.save_incidents([])
    assert reopen().incidents("m") == [replace(inc, last_run_key="k2"), replace(inc, subject="t")]
    assert reopen().incidents("other") == []
    state.set_meta("x", "1")
    state.set_meta("x", "2")
    assert reopen().get_meta("x") == "2" and state.get_meta("y") is None


def test_silences_upsert_by_id_newest_first_and_acknowledgement_round_trips(reopen: Reopen) -> None:
    state = reopen()
    first = Silence("s1", "m", "", "tire_type", T0, T0 + timedelta(days=3), "new tire batch 'R18'", "ana", T0)
    second = Silence("s2", "m", "feature_drift", "", T0, T0 + timedelta(hours=1), "known", "bo",
                     T0 + timedelta(minutes=1))
    state.save_silence(first)
    state.save_silence(second)
    state.save_silence(replace(first, ends_at=T0 + timedelta(hours=2)))  # expired early
    assert reopen().silences("m") == [second, replace(first, ends_at=T0 + timedelta(hours=2))]
    assert reopen().silences("other") == []
    inc = Incident("m", "r", "s", "open", "warn", T0, T0, "warn", T0, "k")
    state.save_incidents([inc])
    assert reopen().incidents("m") == [inc]  # defaults: not acknowledged, not silenced
    acked = replace(inc, acknowledged_by="ana", acknowledged_at=T0 + timedelta(hours=1), silenced="s1")
    state.save_incidents([acked])
    assert reopen().incidents("m") == [acked]


class Flaky:
    """A notifier that is down until told otherwise, recording what it delivered."""

    name = "slack"

    def __init__(self) -> None:
        self.down = True
        self.sent: list[Message] = []

    def send(self, message: Message) -> None:
        if self.down:
            raise NotifierRetryable("HTTP 503 from the fake")
        self.sent.append(message)


def test_a_breach_pages_once_a_retry_sends_nothing_and_a_backlog_lands_once_oldest_first(reopen: Reopen) -> None:
    console, slack = io.StringIO(), Flaky()
    harness = Harness(reopen(), {"console": ConsoleNotifier(console), "slack": slack})
    harness.run(make_summary(0, WARN))
    retry = harness.run(make_summary(0, WARN, run_id="run-000-retry"), late=timedelta(minutes=9))
    assert retry.delivered == [] and [(p.rule, p.attempts) for p in retry.pending] == [("feature_drift", 2)]
    harness.state = reopen()  # a restart between runs
    out = harness.run(make_summary(2, CRITICAL), late=timedelta(minutes=10))
    # Slack still down: its oldest row is tried again, the newer one waits behind it to keep the order.
    assert [(p.rule, p.attempts) for p in out.pending] == [("feature_drift", 3), ("dataset_drift", 0)]
    slack.down = False
    harness.run(make_summary(3, CRITICAL))
    harness.run(make_summary(4))
    lines = [ln for ln in console.getvalue().splitlines() if ln.startswith("[")]
    assert [ln.split(" wheel-assembly: ")[1] for ln in lines] == [
        "feature drift, 1/8 features drifted (force_z PSI 0.42 > 0.25)",
        "drift share 0.625 > 0.5, 5/8 features drifted",
        "feature drift back to normal (0/8 features drifted) (+1 more)"]  # one message per run
    assert [(m.run_id, m.rule, m.severity) for m in slack.sent] == [
        ("run-000", "feature_drift", "warn"), ("run-002", "dataset_drift", "critical"),
        ("run-004", "feature_drift", "resolved")]
    assert harness.state.pending_deliveries("wheel-assembly") == []
    assert {i.status for i in reopen().incidents("wheel-assembly")} == {"resolved"}


# -- BigQuery only: its tables, its store, its errors ---------------------------------------------------


def test_init_creates_the_alert_tables_and_is_safe_twice(bq_client: Any, bq_dataset: str) -> None:
    store = bq_store(bq_client, bq_dataset)
    store.init()
    store.init()
    BigQueryAlertState(store).init()
    assert all(store.exists(t) for t in (INCIDENTS_TABLE, OUTBOX_TABLE, META_TABLE, SILENCES_TABLE))
    assert store.columns(OUTBOX_TABLE)["next_attempt_at"] == "TIMESTAMP"
    assert store.alert_state() is store.alert_state()


def test_alert_state_without_its_dataset_is_table_not_found(bq_client: Any) -> None:
    state = BigQueryAlertState(bq_store(bq_client, "never_created"))
    with pytest.raises(TableNotFound, match="driftline init"):
        state.incidents("m")
    with pytest.raises(TableNotFound):
        state.add_deliveries([_row("a", 1)])


# -- the service on BigQuery: monitor.api.wiring.run, as POST /run and the CLI call it ------------------

DAY_HIT = START + timedelta(days=5)  # run at this moment: the window of day 4, the new tire batch drifting


@pytest.fixture
def bq_service(tmp_path: Path, bq_live: Emulator, bq_dataset: str) -> Iterator[Service]:
    """A BigQuery-configured model whose store (on the emulator) is the one monitor.api.wiring.open_store returns."""
    write_config(tmp_path, store=f"{{kind: bigquery, project: {bq_live.project}, dataset: {bq_dataset}}}",
                 report="{evidently: false}",
                 # _load logs 300 rows a day: expecting the example's 2000 would be a volume failure,
                 # which inhibits the drift alerts this test is about
                 window="{length: 24h, min_rows: 200, expected_rows: 300}")
    configs = load_config_dir(tmp_path)
    cfg = configs["wheel-assembly"]
    store = BigQueryStore(bq_live.client(), bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)],
                          retries=1, backoff=0.05, timeout=120)
    # open_store would build a client with Application Default Credentials; this one talks to the emulator.
    key = f"bigquery:{cfg.store.project}.{cfg.store.dataset}"
    service._stores[key] = store
    service._notifiers.pop(cfg.model, None)  # built per model name: never one left by another test
    yield configs, store
    service._stores.pop(key, None)
    service._notifiers.pop(cfg.model, None)


def _load(cfg: ModelConfig, store: BigQueryStore) -> pd.DataFrame:
    """The demo scenario in BigQuery, with half of day 4's labels held back; returns those late labels."""
    store.init()
    logs, labels = simulate.traffic(6, 300, START, scenario="new_tire_batch")
    store.insert_frame(cfg.reference_table, simulate.reference(2000))
    store.insert_frame(cfg.predictions.table, logs)
    day4 = labels["request_id"].str.startswith("wheel-assembly-04-")
    late = labels[day4].iloc[::2]
    store.upsert_labels("labels", labels.drop(late.index), "request_id")
    return late


@pytest.mark.slow
def test_a_bigquery_run_alerts_once_and_late_labels_refresh_its_performance(
        bq_service: Service, capsys: pytest.CaptureFixture[str]) -> None:
    configs, store = bq_service
    cfg = configs["wheel-assembly"]
    late = _load(cfg, store)
    capsys.readouterr()
    [first] = service.run(configs, at=DAY_HIT)
    printed = capsys.readouterr().out
    assert "Driftline" in printed and "wheel-assembly: feature drift" in printed, printed
    assert first.performance is not None and first.performance["coverage"]["fraction"] == 0.5
    # Cloud Scheduler retries the same window: the stored run is returned and nothing is sent.
    [again] = service.run(configs, at=DAY_HIT)
    assert again.run_id == first.run_id and capsys.readouterr().out == ""
    # Even the alert step replayed on that window (a run that died before it was saved) sends nothing.
    hook = service.alert_hook(cfg, store)
    assert hook is not None
    hook(first, [])
    assert capsys.readouterr().out == ""
    assert {i.rule for i in store.alert_state().incidents(cfg.model) if i.status == "open"} >= {"feature_drift"}

    store.upsert_labels("labels", late, "request_id")  # the held-back labels arrive
    # What the next run does once it is saved (called alone: a second window's profile costs seconds here).
    assert refresh_performance(cfg, store, before=DAY_HIT + timedelta(days=1)) == [first.run_id]
    stored = store.get_run(first.run_id)
    assert stored is not None
    refreshed = RunSummary.model_validate_json(stored.summary_json)
    assert refreshed.performance is not None and refreshed.performance["coverage"]["fraction"] == 1.0
    assert refreshed.performance_history == [first.performance]
    assert refreshed.features == first.features and [r.run_id for r in store.list_runs()] == [first.run_id]
    assert refresh_performance(cfg, store, before=DAY_HIT + timedelta(days=1)) == []  # nothing new since

def test_post_run_with_bigquery_down_is_503_with_a_clear_message_and_writes_no_run(
        bq_service: Service, bq_live: Emulator, tmp_path: Path) -> None:
    _, store = bq_service
    store.init()
    client = TestClient(create_app(Settings(auth_mode="local-open", config_dir=str(tmp_path))))
    bq_live.stop()
    try:
        response = client.post("/run", params={"at": DAY_HIT.isoformat()})
    finally:
        bq_live.start()
    assert response.status_code == 503, response.text
    body = response.json()
    assert body["error"] == "StoreUnavailable" and "BigQuery is unreachable" in body["detail"]
    assert list(store.list_runs()) == []


def test_init_adds_the_acknowledgement_columns_to_an_older_incidents_table(bq_client: Any, bq_dataset: str) -> None:
    store = bq_store(bq_client, bq_dataset)
    bq_client.create_dataset(bq_dataset)
    old = [f for f in INCIDENTS_SCHEMA if f[0] not in ("acknowledged_by", "acknowledged_at", "silenced")]
    store.create_table(INCIDENTS_TABLE, old, cluster=["model"])
    BigQueryAlertState(store).init()
    # (the emulator's table metadata does not list columns added by DDL: the round trip shows they exist)
    inc = Incident("m", "r", "s", "open", "warn", T0, T0, "warn", T0, "k", acknowledged_by="ana")
    state = store.alert_state()
    state.save_incidents([inc])
    assert state.incidents("m") == [inc]
