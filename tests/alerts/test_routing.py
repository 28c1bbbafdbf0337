"""The routing tree: a model's critical pages go to its own Slack channel and SMS recipients only."""

from __future__ import annotations

import io
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError

from alerts.channels import build_notifiers
from alerts.console import ConsoleNotifier
from monitor.config.alerts import AlertsConfig
from monitor.config.channels import ChannelsConfig
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import SLACK_TOKEN, TWILIO_SID, TWILIO_TOKEN, Harness, make_summary
from tests.alerts.fakes.http import FakeServer, signed_webhook

WARN = {"force_z": 0.42}
CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}
TEAM_ONCALL, OTHER_ONCALL = "+15551230001", "+15551230002"
SECRET = "webhook-shared-secret-0123456789"
TREE = {
    "labels": {"team": "wheels"},
    "routes": [{"labels": {"team": "wheels"}, "routes": [
        {"severity": "critical", "channels": ["slack", "sms:1"]},
        {"rule": "performance", "channels": ["webhook"]},
        {"channels": ["console"]},
    ]}],
}


@pytest.fixture
def hook() -> Iterator[tuple[FakeServer, list[dict[str, Any]]]]:
    got: list[dict[str, Any]] = []
    server = FakeServer(signed_webhook(SECRET, got))
    yield server, got
    server.close()


def _harness(state: DuckDBAlertState, slack: FakeServer, twilio: FakeServer, hook: FakeServer,
             config: dict[str, Any]) -> tuple[Harness, io.StringIO]:
    channels = ChannelsConfig.model_validate({
        "slack": {"bot_token": SLACK_TOKEN, "channel": "#wheels-oncall", "base_url": f"{slack.url}/api/",
                  "max_retries": 0},
        "sms": {"account_sid": TWILIO_SID, "auth_token": TWILIO_TOKEN, "from_number": "+15550001111",
                "recipients": [TEAM_ONCALL, OTHER_ONCALL], "api_base_url": twilio.url},
        "webhook": {"url": f"{hook.url}/x", "secret": SECRET},
    })
    notifiers = build_notifiers(channels)
    stream = io.StringIO()
    notifiers["console"] = ConsoleNotifier(stream)
    return Harness(state, notifiers, config=AlertsConfig.model_validate(config)), stream


def test_critical_pages_go_to_the_models_own_slack_channel_and_sms_recipient_only(
        state: DuckDBAlertState, slack_fake: FakeServer, twilio_fake: FakeServer, hook: Any) -> None:
    h, console = _harness(state, slack_fake, twilio_fake, hook[0], TREE)
    out = h.run(make_summary(0, CRITICAL))
    assert sorted(d.channel for d in out.delivered) == ["slack", "sms:1"]
    assert [r.json()["channel"] for r in slack_fake.requests] == ["#wheels-oncall"]
    assert [r.form()["To"] for r in twilio_fake.requests] == [TEAM_ONCALL]
    assert hook[1] == [] and console.getvalue() == ""


def test_what_no_deeper_route_claims_takes_the_catch_all(state: DuckDBAlertState, slack_fake: FakeServer,
                                                         twilio_fake: FakeServer, hook: Any) -> None:
    h, console = _harness(state, slack_fake, twilio_fake, hook[0], TREE)
    h.run(make_summary(0, WARN))
    assert console.getvalue().startswith("[WARN]") and slack_fake.requests == [] and twilio_fake.requests == []


def test_without_routes_each_rule_keeps_its_channels(state: DuckDBAlertState, slack_fake: FakeServer,
                                                     twilio_fake: FakeServer, hook: Any) -> None:
    h, console = _harness(state, slack_fake, twilio_fake, hook[0], {})
    out = h.run(make_summary(0, CRITICAL))
    assert sorted(d.channel for d in out.delivered) == ["console", "slack", "sms:1", "sms:2", "webhook"]


def test_a_route_of_another_team_does_not_match(state: DuckDBAlertState, slack_fake: FakeServer,
                                                twilio_fake: FakeServer, hook: Any) -> None:
    tree = {**TREE, "labels": {"team": "paint"}}
    h, _ = _harness(state, slack_fake, twilio_fake, hook[0], tree)
    out = h.run(make_summary(0, WARN))
    assert sorted(d.channel for d in out.delivered) == ["console", "slack", "webhook"]  # the rule's own


def test_a_feature_route_matches_a_drift_of_that_feature_and_sms_never_gets_a_warn(
        state: DuckDBAlertState, slack_fake: FakeServer, twilio_fake: FakeServer, hook: Any) -> None:
    tree = {"routes": [{"feature": "force_z", "channels": ["webhook", "sms"]}, {"channels": ["console"]}]}
    h, console = _harness(state, slack_fake, twilio_fake, hook[0], tree)
    out = h.run(make_summary(0, WARN))
    assert [d.channel for d in out.delivered] == ["webhook"] and twilio_fake.requests == []
    h.run(make_summary(1))
    h.run(make_summary(2, {"torque": 0.42}))
    assert console.getvalue().count("[WARN]") == 1


def test_a_route_naming_an_unknown_rule_is_refused() -> None:
    with pytest.raises(ValidationError, match="known rules"):
        AlertsConfig.model_validate({"routes": [{"rule": "drift", "channels": ["slack"]}]})
