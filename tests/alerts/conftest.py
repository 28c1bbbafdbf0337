"""Fixtures of the alert tests: wire-level fakes on 127.0.0.1, run summaries, and a harness of runs."""

from __future__ import annotations

import io
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.base import MetricsSink, Notifier
from alerts.channels import build_metrics_sink, build_notifiers
from alerts.console import ConsoleNotifier
from alerts.engine import AlertOutcome, process_run
from monitor.config.alerts import AlertsConfig
from monitor.config.channels import ChannelsConfig
from monitor.schema.summary import FeatureQuality, FeatureVerdict, RunSummary, Window
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.fakes.http import FakeServer, slack_api, slack_webhook, twilio_messages
from tests.alerts.fakes.monitoring import FakeMetricService

SLACK_TOKEN = "xoxb-1111-2222-SECRETslacktoken"
WEBHOOK_PATH = "/services/T000/B000/SECRETwebhookpath"
TWILIO_SID = "AC00000000000000000000000000000001"
TWILIO_TOKEN = "SECRETtwilioauthtoken0123456789"
ONCALL = "+15551234567"
T0 = datetime(2026, 3, 1, tzinfo=UTC)
FEATURES = ["force_z", "force_x", "torque", "speed", "temp", "vibration", "pressure", "station"]


def make_summary(
    hour: int,
    drifted: Mapping[str, float] | None = None,
    *,
    model: str = "wheel-assembly",
    rows: int = 1000,
    rejected: int = 0,
    null_rates: Mapping[str, float] | None = None,
    status: str = "ok",
    run_id: str | None = None,
) -> RunSummary:
    """A run summary of window [T0 + hour, T0 + hour + 1h): PSI 0.05 everywhere but `drifted`."""
    drifted = dict(drifted or {})
    verdicts = []
    for name in FEATURES:
        value = drifted.get(name, 0.05)
        verdicts.append(FeatureVerdict(name=name, kind="numerical", statistic="psi", value=value,
                                       threshold=0.25, drifted=value > 0.25))
    share = sum(v.drifted for v in verdicts) / len(verdicts)
    quality = {n: FeatureQuality(null_rate=(null_rates or {}).get(n, 0.0), out_of_range_rate=0.0)
               for n in FEATURES}
    rid = run_id or f"run-{hour:03d}"
    return RunSummary(
        run_id=rid, model=model,
        window=Window(start=T0 + timedelta(hours=hour), end=T0 + timedelta(hours=hour + 1)),
        rows=rows, rows_rejected=rejected, features=verdicts, drift_share=share,
        dataset_drift=share >= 0.5, prediction_drift=None, label_drift=None, data_quality=quality,
        report_url=f"/report/{rid}", status=status, model_version="v3",
    )


class Harness:
    """Runs summaries one after another through process_run, as the run would, keeping the history."""

    def __init__(self, state: DuckDBAlertState, notifiers: dict[str, Notifier],
                 metrics: MetricsSink | None = None, config: AlertsConfig | None = None) -> None:
        self.state = state
        self.notifiers = notifiers
        self.metrics = metrics
        self.config = config or AlertsConfig()
        self.history: list[RunSummary] = []

    def run(self, summary: RunSummary, *, late: timedelta = timedelta(minutes=5)) -> AlertOutcome:
        outcome = process_run(
            summary, list(reversed(self.history)), self.config, self.state, self.notifiers, self.metrics,
            "https://driftline.example.com", clock=lambda: summary.window.end + late,
        )
        if all(h.run_id != summary.run_id for h in self.history):
            self.history.append(summary)
        return outcome


@pytest.fixture
def state(tmp_path: Path) -> DuckDBAlertState:
    return DuckDBAlertState(tmp_path / "alerts.duckdb")


@pytest.fixture
def console_stream() -> io.StringIO:
    return io.StringIO()


@pytest.fixture
def console(console_stream: io.StringIO) -> ConsoleNotifier:
    return ConsoleNotifier(console_stream)


@pytest.fixture
def slack_fake() -> Iterator[FakeServer]:
    server = FakeServer(slack_api(SLACK_TOKEN))
    yield server
    server.close()


@pytest.fixture
def webhook_fake() -> Iterator[FakeServer]:
    server = FakeServer(slack_webhook(WEBHOOK_PATH))
    yield server
    server.close()


@pytest.fixture
def twilio_fake() -> Iterator[FakeServer]:
    server = FakeServer(twilio_messages(TWILIO_SID, TWILIO_TOKEN))
    yield server
    server.close()


@pytest.fixture
def monitoring_fake() -> Iterator[FakeMetricService]:
    server = FakeMetricService()
    yield server
    server.close()


@pytest.fixture
def channels(slack_fake: FakeServer, twilio_fake: FakeServer,
             monitoring_fake: FakeMetricService) -> ChannelsConfig:
    """Every channel, pointed at the fakes, with retries short enough for tests."""
    return ChannelsConfig.model_validate({
        "slack": {"bot_token": SLACK_TOKEN, "channel": "#ml-alerts", "base_url": f"{slack_fake.url}/api/",
                  "max_retries": 2, "backoff_factor": 0.01, "max_retry_after": 1.0},
        "sms": {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+15550001111",
                "recipients": [ONCALL], "api_base_url": twilio_fake.url},
        "cloud_monitoring": {"project": "demo-project", "endpoint": monitoring_fake.endpoint,
                             "retry_initial": 0.01, "retry_deadline": 0.5, "timeout": 5},
    })


@pytest.fixture
def harness(state: DuckDBAlertState, channels: ChannelsConfig, console: ConsoleNotifier) -> Harness:
    notifiers = build_notifiers(channels)
    notifiers["console"] = console
    return Harness(state, notifiers, build_metrics_sink(channels, state))
