"""process_run end to end: rules, incidents and the outbox, every channel on its fake."""

from __future__ import annotations

import io
import json
from datetime import timedelta

import grpc
import pytest

from alerts.console import ConsoleNotifier
from alerts.engine import Held, process_run, run_key
from monitor.config.alerts import AlertsConfig
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import Harness, make_summary
from tests.alerts.fakes.http import FakeServer, Reply
from tests.alerts.fakes.monitoring import FakeMetricService

WARN = {"force_z": 0.42}  # one feature drifted: feature drift warn
CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}  # share 5/8 > 0.5


def test_a_warning_goes_to_console_and_slack_but_not_sms(harness: Harness, slack_fake: FakeServer,
                                                          twilio_fake: FakeServer) -> None:
    out = harness.run(make_summary(0, WARN))
    assert [(d.channel, d.severity) for d in out.delivered] == [
        ("console", "warn"), ("slack", "warn"), ("cloud_monitoring", "info")]
    assert [a.model_dump() for a in out.alerts] == [
        {"severity": "warn", "rule": "feature_drift", "message": "1/8 features drifted (force_z PSI 0.42 > 0.25)"}]
    assert slack_fake.requests[0].json()["text"] == (
        "WARN Driftline WARN wheel-assembly: feature drift, 1/8 features drifted (force_z PSI 0.42 > 0.25)")
    assert twilio_fake.requests == []
    assert out.pending == [] and out.failed == []


def test_a_critical_breach_pages_once_and_resolves_once(harness: Harness, slack_fake: FakeServer,
                                                        twilio_fake: FakeServer) -> None:
    harness.config = AlertsConfig.model_validate({"dataset_drift": {"cooldown": "PT3H"}})
    for hour in range(5):  # the breach holds for five runs
        harness.run(make_summary(hour, CRITICAL))
    harness.run(make_summary(5))
    sms_bodies = [r.form()["Body"] for r in twilio_fake.requests]
    assert len(sms_bodies) == 2  # hour 0, and hour 3 once the 3h cooldown is over
    assert sms_bodies[0] == ("Driftline CRITICAL wheel-assembly: station PSI 0.9 > 0.25, 5/8 features drifted. "
                             "https://driftline.example.com/report/run-000")
    assert sms_bodies[1].startswith("Driftline CRITICAL wheel-assembly: still: station PSI 0.9")
    texts = [r.json()["text"] for r in slack_fake.requests]
    dataset = [t for t in texts if "dataset drift" in t or "drift share" in t]
    assert dataset == [
        "CRITICAL Driftline CRITICAL wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted",
        "CRITICAL Driftline CRITICAL wheel-assembly: still: drift share 0.625 > 0.5, 5/8 features drifted",
        ("RESOLVED Driftline RESOLVED wheel-assembly: dataset drift back to normal (drift share 0, 0/8 features "
        "drifted)"),
    ]
    harness.run(make_summary(6))
    assert len(slack_fake.requests) == len(texts)  # resolved once, then silence


def test_a_scheduler_retry_of_the_same_window_sends_nothing(harness: Harness, slack_fake: FakeServer,
                                                            twilio_fake: FakeServer,
                                                            monitoring_fake: FakeMetricService) -> None:
    first = harness.run(make_summary(0, CRITICAL))
    sent = (len(slack_fake.requests), len(twilio_fake.requests), len(monitoring_fake.series_calls))
    assert sent == (1, 1, 1)  # one message per run (its feature-drift warn is inhibited by the critical); one page; one metrics write
    again = harness.run(make_summary(0, CRITICAL))  # same run id
    retried = harness.run(make_summary(0, CRITICAL, run_id="run-000-retry"), late=timedelta(minutes=9))
    assert (len(slack_fake.requests), len(twilio_fake.requests), len(monitoring_fake.series_calls)) == sent
    assert again.delivered == [] and retried.delivered == []
    assert again.alerts == first.alerts == retried.alerts


def test_escalation_is_immediate_and_flapping_does_not_page_again(harness: Harness,
                                                                   twilio_fake: FakeServer) -> None:
    harness.run(make_summary(0, WARN))
    out = harness.run(make_summary(1, CRITICAL))
    assert ("sms:1", "critical") in [(d.channel, d.severity) for d in out.delivered]
    harness.run(make_summary(2, {"force_z": 0.42, "torque": 0.3, "speed": 0.3, "temp": 0.3}))  # 4/8: warn
    harness.run(make_summary(3, CRITICAL))  # back to critical inside the 6h cooldown
    assert len(twilio_fake.requests) == 1


def test_breach_must_hold_for_n_of_m_runs(state: DuckDBAlertState, console: ConsoleNotifier,
                                          console_stream: io.StringIO) -> None:
    config = AlertsConfig.model_validate({"feature_drift": {"for_runs": 2, "of_last": 3}})
    h = Harness(state, {"console": console}, config=config)
    h.run(make_summary(0, WARN))  # a blip: 1 of 3
    h.run(make_summary(1))
    assert console_stream.getvalue() == ""
    out = h.run(make_summary(2, WARN))  # 2 of the last 3
    assert [a.severity for a in out.alerts] == ["warn"]
    assert console_stream.getvalue().startswith("[WARN] Driftline WARN wheel-assembly: feature drift")
    h.run(make_summary(3))  # hours 1, 2, 3 hold one breach: below 2 of 3, so it resolves
    assert "[RESOLVED]" in console_stream.getvalue()


def test_slack_down_for_three_runs_then_the_backlog_is_delivered_once_oldest_first(
    harness: Harness, slack_fake: FakeServer, twilio_fake: FakeServer
) -> None:
    slack_fake.down = True
    first = harness.run(make_summary(0, WARN))
    harness.run(make_summary(1, CRITICAL))
    third = harness.run(make_summary(2))
    assert [d.channel for d in first.pending] == ["slack"]
    # one message per run: hour 2 resolves both incidents in one
    assert [(d.channel, d.severity) for d in third.pending] == [
        ("slack", "warn"), ("slack", "critical"), ("slack", "resolved")]
    assert "HTTP 503" in third.pending[0].error and third.pending[0].attempts == 3
    assert len(twilio_fake.requests) == 1  # the page did not wait for Slack
    slack_fake.down = False
    before = len(slack_fake.requests)
    fourth = harness.run(make_summary(3))
    texts = [r.json()["text"] for r in slack_fake.requests[before:]]
    assert texts == [
        "WARN Driftline WARN wheel-assembly: feature drift, 1/8 features drifted (force_z PSI 0.42 > 0.25)",
        "CRITICAL Driftline CRITICAL wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted",
        "RESOLVED Driftline RESOLVED wheel-assembly: feature drift back to normal (0/8 features drifted) (+1 more)",
    ]
    blocks = slack_fake.requests[-1].json()["blocks"]
    assert "dataset drift back to normal" in json.dumps(blocks)  # the group's other resolve is listed
    assert fourth.pending == []
    harness.run(make_summary(4))
    assert len(slack_fake.requests) == before + 3  # nothing delivered twice


def test_failing_channels_never_stop_the_others(harness: Harness, slack_fake: FakeServer,
                                                twilio_fake: FakeServer,
                                                monitoring_fake: FakeMetricService) -> None:
    slack_fake.script = [Reply(200, {"ok": False, "error": "invalid_auth"})]
    twilio_fake.script = [Reply(500, {"code": 20500, "message": "Internal Server Error", "status": 500})]
    monitoring_fake.fail = [grpc.StatusCode.INVALID_ARGUMENT]
    out = harness.run(make_summary(0, CRITICAL))
    assert sorted((d.channel, d.error.split(":")[0]) for d in out.failed) == [
        ("cloud_monitoring", "cloud monitoring series 0-200"), ("slack", "slack")]  # one message per run
    assert all("invalid_auth" in d.error for d in out.failed if d.channel == "slack")
    assert [(d.channel, d.attempts) for d in out.pending] == [("sms:1", 1)]
    assert [d.channel for d in out.delivered] == ["console"]
    extra = out.summary_extra()
    assert extra["pending"][0]["channel"] == "sms:1" and "HTTP 500" in extra["pending"][0]["error"]
    later = harness.run(make_summary(1, CRITICAL))  # Twilio is back: the page goes out once
    assert ("sms:1", "critical") in [(d.channel, d.severity) for d in later.delivered]
    assert len([r for r in twilio_fake.requests]) == 2 and later.pending == []


def test_an_invalid_number_is_given_up_and_reported(harness: Harness, twilio_fake: FakeServer) -> None:
    twilio_fake.script = [Reply(400, {"code": 21211, "status": 400,
                                      "message": "The 'To' number +15551234567 is not a valid phone number."})]
    out = harness.run(make_summary(0, CRITICAL))
    (failed,) = out.failed
    assert failed.channel == "sms:1" and "code 21211" in failed.error and "+15551234567" not in failed.error
    assert ("slack", "critical") in [(d.channel, d.severity) for d in out.delivered]
    harness.run(make_summary(1, CRITICAL))
    assert len(twilio_fake.requests) == 1  # not retried


def test_metrics_unavailable_are_written_later_in_order(harness: Harness,
                                                        monitoring_fake: FakeMetricService) -> None:
    monitoring_fake.down = True
    out = harness.run(make_summary(0))
    assert [d.channel for d in out.pending] == ["cloud_monitoring"]
    assert [d.channel for d in out.delivered] == []
    monitoring_fake.down = False
    harness.run(make_summary(1))
    ends = [req.time_series[0].points[0].interval.end_time for req in monitoring_fake.series_calls]
    assert [e.hour for e in ends] == [1, 2]  # the backlog first; the fake refuses out-of-order points


def test_state_survives_a_restart(tmp_path: object, console_stream: io.StringIO) -> None:
    path = f"{tmp_path}/state.duckdb"
    first = Harness(DuckDBAlertState(path), {"console": ConsoleNotifier(console_stream)})
    first.run(make_summary(0, WARN))
    again = Harness(DuckDBAlertState(path), {"console": ConsoleNotifier(console_stream)})
    again.history = first.history
    again.run(make_summary(1, WARN))
    assert console_stream.getvalue().count("[WARN]") == 1


def test_insufficient_data_neither_opens_nor_resolves_drift(state: DuckDBAlertState, console: ConsoleNotifier,
                                                            console_stream: io.StringIO) -> None:
    h = Harness(state, {"console": console})
    h.run(make_summary(0, WARN))
    h.run(make_summary(1, status="insufficient_data", rows=3))
    assert "[RESOLVED]" not in console_stream.getvalue()


def test_the_demo_scenario_shows_warn_critical_resolved_on_the_console(
    state: DuckDBAlertState, capsys: pytest.CaptureFixture[str]
) -> None:
    h = Harness(state, {"console": ConsoleNotifier()})  # default rules, no other channel configured
    for hour, drift in enumerate([{}, WARN, CRITICAL, {}]):
        h.run(make_summary(hour, drift))
    tags = [line.split("]")[0] + "]" for line in capsys.readouterr().out.splitlines() if line.startswith("[")]
    assert tags == ["[WARN]", "[CRITICAL]", "[RESOLVED]"]  # one message per run


def test_run_key_is_the_model_and_window() -> None:
    assert run_key(make_summary(2)) == "wheel-assembly@2026-03-01T02:00:00+00:00/2026-03-01T03:00:00+00:00"


def test_disabled_alerts_still_write_metrics(state: DuckDBAlertState, monitoring_fake: FakeMetricService) -> None:
    from alerts.cloud_monitoring import CloudMonitoringSink

    sink = CloudMonitoringSink("p", endpoint=monitoring_fake.endpoint, retry_initial=0.01, retry_deadline=0.3)
    out = process_run(make_summary(0, CRITICAL), [], AlertsConfig(enabled=False), state, {}, sink, "http://x")
    assert out.alerts == [] and [d.channel for d in out.delivered] == ["cloud_monitoring"]


def test_a_quiet_run_stores_incidents_but_sends_nothing(harness: Harness, slack_fake: FakeServer,
                                                        twilio_fake: FakeServer,
                                                        monitoring_fake: FakeMetricService) -> None:
    out = process_run(make_summary(0, CRITICAL), [], harness.config, harness.state, harness.notifiers,
                      harness.metrics, "http://x", notify=False)
    assert (slack_fake.requests, twilio_fake.requests, monitoring_fake.series_calls) == ([], [], [])
    assert out.delivered == out.pending == [] and harness.state.deliveries("wheel-assembly") == []
    assert {(i.rule, i.status) for i in harness.state.incidents("wheel-assembly")} == {("dataset_drift", "open")}


class _StaleIncidents:
    """The alert state as a concurrent refresh saw it: the incidents read before the other one saved them."""

    def __init__(self, state: DuckDBAlertState) -> None:
        self._state = state

    def incidents(self, model: str) -> list:  # type: ignore[type-arg]
        return []

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self._state, name)


def test_a_past_window_alerted_by_two_concurrent_refreshes_is_sent_once(
        state: DuckDBAlertState, console: ConsoleNotifier, console_stream: io.StringIO) -> None:
    past = make_summary(0)
    past.performance = {"status": "provisional", "key_class": 0,
                        "coverage": {"labelled": 800, "predictions": 1000, "fraction": 0.8},
                        "metrics": {"recall_0": {"value": 0.28, "interval": [0.24, 0.32], "reference": 0.55,
                                                 "verdict": "drop"}}}
    config = AlertsConfig()
    first = process_run(past, [], config, state, {"console": console}, None, "", only=("performance",))
    second = process_run(past, [], config, _StaleIncidents(state), {"console": console}, None, "",  # type: ignore[arg-type]
                         only=("performance",))
    assert [t.kind for t in first.transitions] == ["open"] and [t.kind for t in second.transitions] == ["open"]
    assert console_stream.getvalue().count("[CRITICAL]") == 1  # the outbox key names the window: one delivery
    assert [a.rule for a in first.alerts] == ["performance"]
    # `only` keeps the other rules out: a past window's drift was alerted on at its own run.
    drifted = make_summary(1, {"force_z": 0.9})
    assert process_run(drifted, [], config, state, {"console": console}, None, "", only=("performance",)).alerts == []


def test_late_label_news_held_for_the_run_is_one_message_with_one_open(
        state: DuckDBAlertState, console: ConsoleNotifier, console_stream: io.StringIO) -> None:
    drop = {"status": "provisional", "key_class": 0,
            "coverage": {"labelled": 800, "predictions": 1000, "fraction": 0.8},
            "metrics": {"recall_0": {"value": 0.28, "interval": [0.24, 0.32], "reference": 0.55, "verdict": "drop"}}}
    held = Held()
    config = AlertsConfig()
    for day in (0, 1):  # two past windows re-scored in one run, both with the same drop
        past = make_summary(day)
        past.performance = drop
        process_run(past, [], config, state, {"console": console}, None, "", only=("performance",), hold=held)
    assert console_stream.getvalue() == "" and state.incidents("wheel-assembly") == []  # nothing sent or saved yet
    assert [t.kind for t, _ in held.routed] == ["open"]  # the second window saw the first's unsaved incident
    now = make_summary(2)
    process_run(now, [], config, state, {"console": console}, None, "", carry=held)
    assert console_stream.getvalue().count("[CRITICAL]") == 1  # the run's one message carries the late news
    assert [(i.rule, i.status) for i in state.incidents("wheel-assembly") if i.rule == "performance"] == [
        ("performance", "open")]
    assert held.routed == [] and held.changed == []
