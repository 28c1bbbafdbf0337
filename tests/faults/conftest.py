"""Fixtures of the fault suite: a DuckDB-stored model whose Slack and Twilio channels are wire fakes on 127.0.0.1."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.api import wiring as service
from monitor.config import ModelConfig, load_config_dir
from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore
from tests.alerts.conftest import SLACK_TOKEN, TWILIO_SID, TWILIO_TOKEN
from tests.alerts.fakes.http import FakeServer, slack_api, twilio_messages
from tests.conftest import START, write_config
from tests.monitor.stores.emulator import Emulator

AT = START + timedelta(days=4)  # the window of day 3: the new tire batch has drifted
ONCALL = "+15551234567"


@dataclass
class Service:
    """A model's config dir, its loaded configs, and the two fakes its alerts go to."""

    directory: Path
    configs: dict[str, ModelConfig]
    slack: FakeServer
    twilio: FakeServer

    @property
    def cfg(self) -> ModelConfig:
        return self.configs["wheel-assembly"]

    def sent(self) -> tuple[int, int]:
        """Slack messages and SMS accepted by the fakes (2xx replies only are counted by the test)."""
        return len(self.slack.requests), len(self.twilio.requests)


def channels_yaml(slack_url: str, twilio_url: str, slack_timeout: int = 5) -> str:
    return ("{console: false, "
            f"slack: {{bot_token: {SLACK_TOKEN}, channel: '#ml', base_url: '{slack_url}/api/', max_retries: 1, "
            f"backoff_factor: 0.01, max_retry_after: 1.0, timeout: {slack_timeout}}}, "
            f"sms: {{account_sid: {TWILIO_SID}, auth_token: {TWILIO_TOKEN}, from_number: '+15550001111', "
            f"recipients: ['{ONCALL}'], api_base_url: '{twilio_url}'}}}}")


def make_service(directory: Path, slack: FakeServer, twilio: FakeServer, *, slack_timeout: int = 5,
                 days: int = 5) -> Service:
    write_config(directory, report="{evidently: false}", window="{length: 24h, min_rows: 200, expected_rows: 300}",
                 channels=channels_yaml(slack.url, twilio.url, slack_timeout),
                 alerts="{feature_drift: {statistics: {wasserstein: {critical: 0.01}}}, "
                 "outbox: {claim_ttl: 1s, backoff_base: 1s, backoff_max: 1s}}")
    store = DuckDBStore(directory / "driftline.duckdb")
    store.insert_frame("reference_wheel_assembly", simulate.reference(2000))
    logs, labels = simulate.traffic(days, 300, START, scenario="new_tire_batch")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    store.close()
    configs = load_config_dir(directory)
    service.register(configs)
    service.close_stores()
    service._notifiers.pop("wheel-assembly", None)  # built per model name: never one of another test's fakes
    return Service(directory, configs, slack, twilio)


@pytest.fixture
def fakes() -> Iterator[tuple[FakeServer, FakeServer]]:
    slack, twilio = FakeServer(slack_api(SLACK_TOKEN)), FakeServer(twilio_messages(TWILIO_SID, TWILIO_TOKEN))
    yield slack, twilio
    slack.close()
    twilio.close()


@pytest.fixture
def svc(tmp_path: Path, fakes: tuple[FakeServer, FakeServer]) -> Iterator[Service]:
    service._notifiers.pop("wheel-assembly", None)  # built per model name: never one left by another test
    yield make_service(tmp_path, *fakes)
    service.close_stores()
    service._notifiers.pop("wheel-assembly", None)


@pytest.fixture(scope="session")
def bq_live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Emulator]:
    """The local BigQuery (as tests/monitor/stores/conftest.py starts it), for this folder's tests."""
    pytest.importorskip("bqemulator", reason="bqemulator is not installed: BigQuery tests need the local emulator")
    emulator = Emulator(tmp_path_factory.mktemp("bqemulator-faults"))
    emulator.start()
    yield emulator
    emulator.stop()


@pytest.fixture
def bq_dataset(bq_live: Emulator) -> Iterator[str]:
    name = f"f_{uuid.uuid4().hex[:10]}"
    yield name
    bq_live.client().delete_dataset(f"{bq_live.project}.{name}", delete_contents=True, not_found_ok=True)
