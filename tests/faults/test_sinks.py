"""Every sink failure is that sink's: malformed replies, timeouts, refusals, outages; the outbox retries and expires."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from alerts.channels import build_notifiers
from alerts.engine import flush_outbox
from monitor import cli
from monitor.api import wiring as service
from monitor.config.alerts import AlertsConfig
from monitor.schema.alerting import Delivery
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import SLACK_TOKEN, Harness, make_summary
from tests.alerts.fakes.http import FakeServer, Reply, slack_negative_retry_after, slow, twilio_html_created
from tests.faults.conftest import AT, Service, make_service

OK = Reply(200, {"ok": True, "channel": "#ml", "ts": "1.1"})


def _statuses(svc: Service) -> dict[str, str]:
    rows = service.open_store(svc.cfg).alert_state().deliveries(svc.cfg.model)
    return {r.channel: r.status for r in rows}


def test_slack_retry_after_minus_one_is_waited_as_one_second_and_the_run_is_stored(svc: Service) -> None:
    # The audit: `ValueError: sleep length must be non-negative` crashed the run; SMS was paged again on retry.
    svc.slack.script = [slack_negative_retry_after()]
    [summary] = service.run(svc.configs, at=AT, failures=[])
    assert service.open_store(svc.cfg).get_run(summary.run_id) is not None
    assert _statuses(svc) == {"slack": "delivered", "sms:1": "delivered"}
    assert svc.sent() == (2, 1)  # the 429 and its retry; one SMS


def test_a_twilio_201_with_an_html_body_counts_as_delivered_and_is_not_paged_again(svc: Service) -> None:
    svc.twilio.script = [twilio_html_created()]
    [summary] = service.run(svc.configs, at=AT, failures=[])
    assert _statuses(svc) == {"slack": "delivered", "sms:1": "delivered"}
    service.run(svc.configs, at=AT)
    assert svc.sent() == (1, 1)


@pytest.mark.parametrize("fault", ["slow", "refused", "html_500"])
def test_a_failing_slack_leaves_the_run_stored_and_the_sms_delivered(
        tmp_path: Path, fakes: tuple[FakeServer, FakeServer], fault: str) -> None:
    slack, twilio = fakes
    svc = make_service(tmp_path, slack, twilio, slack_timeout=1)
    if fault == "slow":  # slower than the client's timeout: Slack may have posted it (the documented duplicate)
        slack.script = [slow(OK, 2.5), slow(OK, 2.5)]
    elif fault == "html_500":
        slack.script = [Reply(500, b"<html>oops</html>")] * 2
    else:
        slack.close()  # connection refused
    failures: list = []
    [summary] = service.run(svc.configs, at=AT, failures=failures)
    assert failures == [] and service.open_store(svc.cfg).get_run(summary.run_id) is not None
    assert _statuses(svc) == {"slack": "pending", "sms:1": "delivered"}
    assert summary.extra["deliveries"]["pending"][0]["channel"] == "slack"
    service.close_stores()


def test_pending_alerts_are_sent_by_the_next_run_even_when_no_new_window_is_due(svc: Service) -> None:
    # The audit: a stored window returned early, so the hourly POST /run flushed nothing until the next window.
    svc.slack.down = True
    service.run(svc.configs, at=AT)
    assert _statuses(svc)["slack"] == "pending"
    svc.slack.down = False
    import time

    time.sleep(1.1)  # this config's backoff
    service.run(svc.configs, at=AT + timedelta(hours=1))  # the same window: stored, nothing new to run
    assert _statuses(svc)["slack"] == "delivered"


def test_a_refused_credential_stays_failed_with_its_reason_and_outbox_retry_sends_it(
        svc: Service, capsys: pytest.CaptureFixture[str]) -> None:
    svc.slack.script = [Reply(200, {"ok": False, "error": "invalid_auth"})]
    [summary] = service.run(svc.configs, at=AT)
    assert _statuses(svc)["slack"] == "failed"
    assert "invalid_auth" in summary.extra["deliveries"]["failed"][0]["error"]
    from reports.pages import run_page

    assert "invalid_auth" in run_page(summary, [], evidently_url=None)  # shown on the run page with the fix
    from alerts.prometheus import render_prometheus

    metrics = [line for line in render_prometheus([summary]).splitlines() if line.startswith("driftline_alerts_")]
    assert any('state="failed"' in line and line.endswith(" 1") for line in metrics), metrics
    service.close_stores()
    assert cli.main(["outbox", "list", "--config-dir", str(svc.directory)]) == 0
    assert "invalid_auth" in capsys.readouterr().out
    assert cli.main(["outbox", "retry", "--channel", "slack", "--config-dir", str(svc.directory)]) == 0
    assert "1 re-queued; 1 delivered" in capsys.readouterr().out
    assert _statuses(svc)["slack"] == "delivered" and svc.sent() == (2, 1)


def test_a_sink_down_for_three_days_of_hourly_runs_then_up_delivers_its_backlog_once(
        tmp_path: Path, fakes: tuple[FakeServer, FakeServer]) -> None:
    slack, twilio = fakes
    from monitor.config.channels import ChannelsConfig

    channels = ChannelsConfig.model_validate({"slack": {"bot_token": SLACK_TOKEN, "channel": "#ml",
                                                        "base_url": f"{slack.url}/api/", "max_retries": 0}})
    state = DuckDBAlertState(tmp_path / "alerts.duckdb")
    harness = Harness(state, build_notifiers(channels))
    slack.down = True
    for hour in range(72):  # drift flips every 6 hours: an incident opens or resolves, each one message
        harness.run(make_summary(hour, {"force_z": 0.6} if (hour // 6) % 2 == 0 else None))
    down_requests = len(slack.requests)
    rows = [r for r in state.deliveries("wheel-assembly") if r.channel == "slack"]
    assert len(rows) >= 10 and all(r.status == "pending" for r in rows)
    slack.down = False
    now = harness.history[-1].window.end + timedelta(hours=1, minutes=5)
    for _ in range(2):  # the first hourly run after the outage delivers everything; the next, nothing
        flush_outbox("wheel-assembly", harness.config, state, harness.notifiers, None, now)
        now += timedelta(hours=1)
    delivered = slack.requests[down_requests:]
    assert len(delivered) == len(rows)
    assert all(r.status == "delivered" for r in state.deliveries("wheel-assembly"))
    texts = [req.json()["text"] + str(req.json()["blocks"]) for req in delivered]
    assert len(set(texts)) == len(texts)  # each message once, none twice


def _row(key: str, created: datetime, status: str = "pending") -> Delivery:
    return Delivery(key=key, model="m", run_key="r", rule="x", subject="s", channel="slack", severity="warn",
                    payload="{}", window_end=created, position=0, created_at=created, status=status)


def test_expiry_counts_from_creation_and_old_delivered_rows_are_pruned(tmp_path: Path) -> None:
    state = DuckDBAlertState(tmp_path / "a.duckdb")
    t0 = datetime(2026, 11, 1, tzinfo=UTC)
    policy = AlertsConfig().outbox
    assert policy.max_age >= timedelta(hours=72)  # outlives a day of scheduler retries, and a 3-day outage
    state.add_deliveries([_row("old", t0), _row("done", t0, "delivered")])
    out = flush_outbox("m", AlertsConfig(), state, {}, None, t0 + policy.max_age + timedelta(minutes=1))
    [old] = out.failed
    assert old.error.startswith("expired")
    assert {r.key for r in state.deliveries("m")} == {"old", "done"}  # within the retention: kept
    state.add_deliveries([_row("new", t0 + policy.retention + timedelta(days=1), "delivered")])
    flush_outbox("m", AlertsConfig(), state, {}, None, t0 + policy.retention + timedelta(days=1))
    assert {r.key for r in state.deliveries("m")} == {"new"}  # delivered and failed rows past it: pruned
