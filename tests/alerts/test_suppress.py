"""Inhibition, silences and acknowledgement through process_run, every channel on its fake, on an injectable clock."""

from __future__ import annotations

from datetime import timedelta

import pytest

from alerts.suppress import acknowledge, add_silence, expire_silence
from monitor.config.alerts import AlertsConfig
from monitor.errors import ConfigError
from tests.alerts.conftest import T0, Harness, make_summary
from tests.alerts.fakes.http import FakeServer

WARN = {"force_z": 0.42}
CRITICAL = {"force_z": 0.6, "torque": 0.5, "speed": 0.4, "temp": 0.3, "station": 0.9}


def _texts(fake: FakeServer) -> list[str]:
    return [r.json()["text"] for r in fake.requests]


def test_a_volume_failure_inhibits_the_drift_alerts_of_the_same_run(harness: Harness, slack_fake: FakeServer,
                                                                   twilio_fake: FakeServer) -> None:
    broken = make_summary(0, CRITICAL, rows=50).model_copy(update={"expected_rows": 1000})
    out = harness.run(broken)
    assert _texts(slack_fake) == ["CRITICAL Driftline CRITICAL wheel-assembly: 50 rows, expected 1000 (off by 95%)"]
    assert len(twilio_fake.requests) == 1
    inhibited = {(s.rule, s.state) for s in out.suppressed}
    assert inhibited == {("feature_drift", "inhibited"), ("dataset_drift", "inhibited")}
    assert all("volume failure: 50 rows" in s.reason for s in out.suppressed)
    assert {i.rule for i in harness.state.incidents("wheel-assembly")} == {"volume"}  # drift neither opened
    harness.run(make_summary(1, CRITICAL))  # the pipeline is back and the drift holds: now it is news
    assert "drift share 0.625 > 0.5" in _texts(slack_fake)[-1]


def test_a_critical_inhibits_the_warn_of_the_same_subject(harness: Harness, slack_fake: FakeServer) -> None:
    out = harness.run(make_summary(0, CRITICAL))
    (only,) = out.suppressed
    assert (only.rule, only.severity, only.state) == ("feature_drift", "warn", "inhibited")
    assert only.reason == "inhibited by the critical dataset drift of the same subject"
    assert _texts(slack_fake) == [
        "CRITICAL Driftline CRITICAL wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted"]


def test_a_silence_stops_every_channel_and_expires_on_time(harness: Harness, slack_fake: FakeServer,
                                                          twilio_fake: FakeServer, console_stream) -> None:
    silence = add_silence(harness.state, "wheel-assembly", duration=timedelta(hours=3), reason="new tire batch",
                          by="ana@example.com", now=T0)
    for hour in range(3):  # runs at T0+1h, T0+2h and T0+2h05: inside the silence, which ends at T0+3h
        out = harness.run(make_summary(hour, CRITICAL), late=timedelta(minutes=-55) if hour == 2 else timedelta(0))
        if hour < 2:
            assert {(s.rule, s.state) for s in out.suppressed} >= {("dataset_drift", "silenced")}
    assert out.suppressed and out.suppressed[-1].by == "ana@example.com"
    assert out.suppressed[-1].until == silence.ends_at.isoformat() and out.suppressed[-1].reason == "new tire batch"
    assert slack_fake.requests == twilio_fake.requests == [] and console_stream.getvalue() == ""
    assert {i.rule for i in harness.state.incidents("wheel-assembly")} == {"dataset_drift"}  # stored all the same
    out = harness.run(make_summary(3, CRITICAL))  # at T0+4h: the silence is over and the condition holds
    assert _texts(slack_fake) == ["CRITICAL Driftline CRITICAL wheel-assembly: no longer silenced, still: drift share "
                                  "0.625 > 0.5, 5/8 features drifted"]
    assert len(twilio_fake.requests) == 1 and console_stream.getvalue().count("[CRITICAL]") == 1
    harness.run(make_summary(4, CRITICAL))
    assert len(slack_fake.requests) == 1  # said once
    harness.run(make_summary(5))
    assert _texts(slack_fake)[-1].startswith("RESOLVED")


def test_a_resolve_inside_the_silence_is_not_news(harness: Harness, slack_fake: FakeServer) -> None:
    add_silence(harness.state, "wheel-assembly", duration=timedelta(days=3), reason="known", by="ana", now=T0)
    harness.run(make_summary(0, CRITICAL))
    harness.run(make_summary(1))
    assert slack_fake.requests == []


def test_a_silence_of_one_feature_mutes_a_drift_of_that_feature_only(harness: Harness, slack_fake: FakeServer) -> None:
    add_silence(harness.state, "wheel-assembly", duration=timedelta(days=3), reason="new tire batch", by="ana",
                now=T0, rule="feature_drift", subject="force_z")
    harness.run(make_summary(0, WARN))
    assert slack_fake.requests == []
    harness.run(make_summary(1, {"force_z": 0.42, "torque": 0.3}))  # another feature drifts too: news
    assert _texts(slack_fake) == ["WARN Driftline WARN wheel-assembly: no longer silenced, still: feature drift, "
                                  "2/8 features drifted (force_z PSI 0.42 > 0.25)"]


def test_an_expired_silence_mutes_nothing(harness: Harness, slack_fake: FakeServer) -> None:
    s = add_silence(harness.state, "wheel-assembly", duration=timedelta(days=3), reason="known", by="ana", now=T0)
    ended = expire_silence(harness.state, "wheel-assembly", s.id, T0 + timedelta(minutes=30))
    assert ended is not None and ended.ends_at == T0 + timedelta(minutes=30)
    assert expire_silence(harness.state, "wheel-assembly", "nope", T0) is None
    harness.run(make_summary(0, WARN))
    assert len(slack_fake.requests) == 1


def test_a_silence_needs_a_reason_and_a_known_rule(harness: Harness) -> None:
    with pytest.raises(ConfigError, match="reason"):
        add_silence(harness.state, "m", duration=timedelta(hours=1), reason=" ", by="a", now=T0)
    with pytest.raises(ConfigError, match="known rules"):
        add_silence(harness.state, "m", duration=timedelta(hours=1), reason="r", by="a", now=T0, rule="drift")


def test_an_acknowledged_incident_stops_re_notifying_and_still_resolves(harness: Harness,
                                                                       slack_fake: FakeServer) -> None:
    harness.config = AlertsConfig.model_validate({"feature_drift": {"cooldown": "1h"}})
    harness.run(make_summary(0, WARN))
    acked = acknowledge(harness.state, "wheel-assembly", "feature_drift", None, by="ana", now=T0 + timedelta(hours=1))
    assert acked.acknowledged_by == "ana"
    for hour in range(1, 4):
        harness.run(make_summary(hour, WARN))  # past the 1h cooldown each time: reminders, were it not acked
    assert len(slack_fake.requests) == 1
    harness.run(make_summary(4))
    assert _texts(slack_fake)[-1].startswith("RESOLVED Driftline RESOLVED wheel-assembly: feature drift back")
    (incident,) = harness.state.incidents("wheel-assembly")
    assert incident.status == "resolved" and incident.acknowledged_by == "ana"
    with pytest.raises(ConfigError, match="no single open incident"):
        acknowledge(harness.state, "wheel-assembly", "feature_drift", None, by="ana", now=T0)


def test_without_acknowledgement_the_reminders_come(harness: Harness, slack_fake: FakeServer) -> None:
    harness.config = AlertsConfig.model_validate({"feature_drift": {"cooldown": "1h"}})
    for hour in range(4):
        harness.run(make_summary(hour, WARN))
    assert len(slack_fake.requests) == 4  # the acknowledgement test above can fail


def test_the_slack_message_links_to_the_acknowledge_page_while_something_fires(harness: Harness,
                                                                              slack_fake: FakeServer) -> None:
    harness.run(make_summary(0, WARN))
    harness.run(make_summary(1))
    first, resolved = (r.json()["blocks"][-1]["elements"] for r in slack_fake.requests)
    assert [(b["text"]["text"], b["url"]) for b in first] == [
        ("Open report", "https://driftline.example.com/report/run-000"),
        ("Acknowledge", "https://driftline.example.com/ack?model=wheel-assembly")]
    assert [b["text"]["text"] for b in resolved] == ["Open report"]  # nothing left to acknowledge


def test_an_announced_incident_still_resolves_inside_a_silence(harness: Harness, slack_fake: FakeServer) -> None:
    harness.run(make_summary(0, WARN))
    add_silence(harness.state, "wheel-assembly", duration=timedelta(days=3), reason="known", by="ana", now=T0)
    harness.run(make_summary(1, {"force_z": 0.42, "torque": 0.3}))  # still firing, inside the silence
    harness.run(make_summary(2))
    assert [t.split(":")[0] for t in _texts(slack_fake)] == ["WARN Driftline WARN wheel-assembly",
                                                            "RESOLVED Driftline RESOLVED wheel-assembly"]
