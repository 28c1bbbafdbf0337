"""A full alerting pass with every channel, failures included, leaks no secret and no phone number."""

from __future__ import annotations

import logging
from datetime import timedelta

import grpc
import pytest
from pydantic import ValidationError

from alerts.channels import build_notifiers
from monitor.config.channels import ChannelsConfig
from monitor.errors import NotifierError
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import (
    ONCALL,
    SLACK_TOKEN,
    TWILIO_TOKEN,
    WEBHOOK_PATH,
    Harness,
    make_summary,
)
from tests.alerts.fakes.http import FakeServer, Reply
from tests.alerts.fakes.monitoring import FakeMetricService

CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}


def test_no_secret_in_logs_errors_responses_or_state(
    harness: Harness, channels: ChannelsConfig, state: DuckDBAlertState, slack_fake: FakeServer,
    twilio_fake: FakeServer, webhook_fake: FakeServer, monitoring_fake: FakeMetricService,
    caplog: pytest.LogCaptureFixture, capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)
    webhook_url = f"{webhook_fake.url}{WEBHOOK_PATH}"
    hook_channels = ChannelsConfig.model_validate({"slack": {"webhook_url": webhook_url, "backoff_factor": 0.01,
                                                             "max_retries": 1}})
    harness.notifiers["webhook"] = build_notifiers(hook_channels)["slack"]
    harness.config = harness.config.model_validate(
        {"dataset_drift": {"channels": {"critical": ["console", "slack", "sms", "webhook"]}}})
    texts: list[str] = []

    # failures everywhere on the first run, then a recovery
    slack_fake.script = [Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "0"}),
                         Reply(200, {"ok": False, "error": "invalid_auth"})]
    twilio_fake.script = [Reply(400, {"code": 21211, "status": 400,
                                      "message": f"The 'To' number {ONCALL} is not a valid phone number."})]
    webhook_fake.script = [Reply(500, "error"), Reply(500, "error")]
    monitoring_fake.fail = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.INVALID_ARGUMENT]
    outcomes = [harness.run(make_summary(0, CRITICAL))]
    webhook_fake.down = True
    outcomes.append(harness.run(make_summary(1, CRITICAL), late=timedelta(hours=4)))
    webhook_fake.down = False
    outcomes.append(harness.run(make_summary(2)))

    for outcome in outcomes:
        summary = make_summary(0)
        summary.alerts = outcome.alerts
        summary.extra["deliveries"] = outcome.summary_extra()
        texts.append(summary.model_dump_json())
        texts += [repr(d) for d in outcome.delivered + outcome.pending + outcome.failed]
    assert any(o.failed for o in outcomes) and any(o.pending for o in outcomes)

    # errors raised by each channel directly
    for name, notifier in harness.notifiers.items():
        if name == "console":
            continue
        slack_fake.down = twilio_fake.down = webhook_fake.down = True
        try:
            from alerts.base import Message

            notifier.send(Message(model="m", severity="critical", rule="r", subject="s", headline="h"))
        except NotifierError as exc:
            texts.append(str(exc))
            texts.append(repr(exc.__cause__) + repr(exc.__context__))

    # config errors and reprs
    for bad in ({"slack": {"bot_token": SLACK_TOKEN}}, {"sms": {"account_sid": "AC1", "auth_token": TWILIO_TOKEN,
                                                                  "from_number": ONCALL, "recipients": ["555"]}}):
        with pytest.raises(ValidationError) as err:
            ChannelsConfig.model_validate(bad)
        texts.append(str(err.value))
    texts += [repr(channels), str(channels), channels.model_dump_json(), repr(hook_channels)]

    # what the state keeps
    texts += [repr(d) for d in state.deliveries("wheel-assembly")]
    texts += [repr(i) for i in state.incidents("wheel-assembly")]

    logs = [r.getMessage() for r in caplog.records] + [caplog.text]
    out = capsys.readouterr()
    everything = "\n".join(texts + logs + [out.out, out.err])
    assert len(caplog.records) > 50  # the SDKs' debug logging was on
    assert "drift share" in everything
    for secret in (SLACK_TOKEN, TWILIO_TOKEN, webhook_url, WEBHOOK_PATH, "SECRET"):
        assert secret not in everything, secret
    assert ONCALL not in "\n".join(logs + texts[-10:]), "phone numbers are masked in logs"
    assert "+*******4567" in everything
