"""PagerDuty Events API v2 and the signed webhook, over the wire on 127.0.0.1, through process_run and the outbox."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest

from alerts.channels import build_notifiers
from alerts.webhook import signature
from monitor.config.channels import ChannelsConfig
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import Harness, make_summary
from tests.alerts.fakes.http import FakeServer, Reply, pagerduty_events, signed_webhook

ROUTING_KEY = "R0UT1NGKEY0000000000000000000001"
SECRET = "webhook-shared-secret-0123456789"
CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}


class Fakes:
    def __init__(self) -> None:
        self.pd_events: list[dict] = []
        self.hooks: list[dict] = []
        self.pd = FakeServer(pagerduty_events(ROUTING_KEY, self.pd_events))
        self.hook = FakeServer(signed_webhook(SECRET, self.hooks))

    def close(self) -> None:
        self.pd.close()
        self.hook.close()


@pytest.fixture
def fakes() -> Iterator[Fakes]:
    f = Fakes()
    yield f
    f.close()


@pytest.fixture
def h(state: DuckDBAlertState, fakes: Fakes) -> Harness:
    channels = ChannelsConfig.model_validate({
        "console": False,
        "pagerduty": {"routing_key": ROUTING_KEY, "url": f"{fakes.pd.url}/v2/enqueue", "timeout": 5},
        "webhook": {"url": f"{fakes.hook.url}/driftline", "secret": SECRET, "timeout": 5},
    })
    return Harness(state, build_notifiers(channels))


def test_pagerduty_gets_trigger_then_resolve_with_one_dedup_key_exactly_once_across_a_retried_run(
        h: Harness, fakes: Fakes) -> None:
    fakes.pd.script = [Reply(500, {"status": "error"})]  # PagerDuty hiccups on the first attempt
    first = h.run(make_summary(0, CRITICAL))
    assert [d.channel for d in first.pending] == ["pagerduty"] and [d.channel for d in first.delivered] == ["webhook"]
    h.run(make_summary(0, CRITICAL, run_id="run-000-retry"), late=timedelta(minutes=9))  # the scheduler retries
    h.run(make_summary(1, CRITICAL), late=timedelta(minutes=30))
    h.run(make_summary(2))
    h.run(make_summary(2, run_id="run-002-retry"), late=timedelta(minutes=9))
    actions = [(e["event_action"], e["dedup_key"]) for e in fakes.pd_events]
    assert [a for a, _ in actions] == ["trigger", "resolve"]
    assert actions[0][1] == actions[1][1] == "driftline/wheel-assembly/dataset_drift/dataset/2026-03-01T01:00:00+00:00"
    trigger = fakes.pd_events[0]
    assert trigger["payload"]["severity"] == "critical" and trigger["payload"]["source"] == "driftline/wheel-assembly"
    assert trigger["payload"]["summary"] == "Driftline wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted"
    assert trigger["links"][0]["href"] == "https://driftline.example.com/report/run-000"
    assert len(fakes.pd.requests) == 3  # the failed attempt, the trigger and the resolve: nothing more


def test_the_webhook_is_signed_and_receives_trigger_then_resolve_once(h: Harness, fakes: Fakes) -> None:
    fakes.hook.down = True
    h.run(make_summary(0, CRITICAL))
    fakes.hook.down = False
    h.run(make_summary(0, CRITICAL, run_id="run-000-retry"), late=timedelta(minutes=9))  # the outbox retries it
    h.run(make_summary(1))
    h.run(make_summary(1, run_id="run-001-retry"), late=timedelta(minutes=9))
    assert [(x["severity"], x["incidents"][0]["kind"]) for x in fakes.hooks] == [("critical", "open"),
                                                                                ("resolved", "resolve")]
    keys = {i["dedup_key"] for x in fakes.hooks for i in x["incidents"] if i["rule"] == "dataset_drift"}
    assert len(keys) == 1
    assert fakes.hooks[0]["_idempotency_key"].endswith("|run|webhook")
    request = fakes.hook.requests[-1]
    assert request.headers["x-driftline-signature"] == signature(SECRET, request.body)
    assert SECRET not in request.body.decode()


def test_a_wrong_secret_is_refused_and_given_up(state: DuckDBAlertState, fakes: Fakes) -> None:
    channels = ChannelsConfig.model_validate({
        "console": False, "webhook": {"url": f"{fakes.hook.url}/x", "secret": "another-secret-0123456789"}})
    out = Harness(state, build_notifiers(channels)).run(make_summary(0, CRITICAL))
    (failed,) = out.failed
    assert failed.channel == "webhook" and "HTTP 401" in failed.error and fakes.hooks == []


def test_an_invalid_pagerduty_key_is_refused_not_retried(state: DuckDBAlertState, fakes: Fakes) -> None:
    channels = ChannelsConfig.model_validate({
        "console": False, "pagerduty": {"routing_key": "wrong", "url": f"{fakes.pd.url}/v2/enqueue"}})
    h = Harness(state, build_notifiers(channels))
    out = h.run(make_summary(0, CRITICAL))
    (failed,) = out.failed
    assert "HTTP 400" in failed.error and "routing_key" in failed.error
    h.run(make_summary(1, CRITICAL), late=timedelta(hours=1))
    assert len(fakes.pd.requests) == 1


def test_an_acknowledgement_reaches_pagerduty_with_the_incidents_dedup_key(h: Harness, fakes: Fakes) -> None:
    from alerts.engine import notify_acknowledged
    from alerts.suppress import acknowledge
    from tests.alerts.conftest import T0

    h.run(make_summary(0, CRITICAL))
    acked = acknowledge(h.state, "wheel-assembly", "dataset_drift", None, by="ana", now=T0 + timedelta(hours=2))
    fakes.pd.script = [Reply(503, "busy")]
    first = notify_acknowledged(acked, h.config, h.state, h.notifiers, T0 + timedelta(hours=2))
    assert [d.channel for d in first.pending] == ["pagerduty"]
    notify_acknowledged(acked, h.config, h.state, h.notifiers, T0 + timedelta(hours=3))  # again: same key
    assert [(d.channel, d.status) for d in h.state.deliveries("wheel-assembly") if d.rule == "dataset_drift"
            and d.key.startswith("ack|")] == [("pagerduty", "delivered")]
    h.run(make_summary(1))
    assert [e["event_action"] for e in fakes.pd_events] == ["trigger", "acknowledge", "resolve"]
    assert len({e["dedup_key"] for e in fakes.pd_events}) == 1
    assert len(fakes.hooks) == 2  # the webhook got the trigger and the resolve, not the acknowledgement
