"""Slack through the real slack-sdk against a fake Slack on 127.0.0.1."""

from __future__ import annotations

from typing import Any

import pytest

from alerts.base import Message
from alerts.slack import SlackNotifier, blocks_for
from monitor.errors import NotifierRejected, NotifierRetryable
from tests.alerts.conftest import SLACK_TOKEN, WEBHOOK_PATH
from tests.alerts.fakes.http import FakeServer, Reply

MESSAGE = Message(
    model="wheel-assembly", severity="critical", rule="dataset_drift", subject="dataset",
    headline="Driftline CRITICAL wheel-assembly: drift share 0.625 > 0.5, 5/8 features drifted",
    lines=("drift share 0.625 > 0.5", "force_z PSI 0.42 > 0.25"), run_id="run-002",
    report_url="https://driftline.example.com/report/run-002",
    extra={"data_quality": "force_x null rate 0.3 > 0.2"},
)


def bot(fake: FakeServer, token: str = SLACK_TOKEN, **kw: Any) -> SlackNotifier:
    opts = {"max_retries": 2, "backoff_factor": 0.01, "max_retry_after": 1.0, **kw}
    return SlackNotifier(token=token, channel="#ml-alerts", base_url=f"{fake.url}/api/", **opts)  # type: ignore[arg-type]


def hook(fake: FakeServer, path: str = WEBHOOK_PATH) -> SlackNotifier:
    return SlackNotifier(webhook_url=f"{fake.url}{path}", max_retries=2, backoff_factor=0.01, max_retry_after=1.0)


def test_posts_block_kit_with_bearer_token(slack_fake: FakeServer) -> None:
    bot(slack_fake).send(MESSAGE)
    (req,) = slack_fake.requests
    assert req.path == "/api/chat.postMessage"
    assert req.headers["authorization"] == f"Bearer {SLACK_TOKEN}"
    body = req.json()
    assert body["channel"] == "#ml-alerts"
    assert body["text"].startswith("CRITICAL Driftline CRITICAL wheel-assembly")
    assert body["blocks"] == blocks_for(MESSAGE)


def test_blocks_carry_headline_severity_values_quality_and_link() -> None:
    blocks = blocks_for(MESSAGE)
    assert blocks[0] == {"type": "header", "text": {"type": "plain_text", "text": MESSAGE.headline}}
    fields = [f["text"] for f in blocks[1]["fields"]]
    assert "*Severity*\n:rotating_light: CRITICAL" in fields
    assert blocks[2]["text"]["text"] == "• drift share 0.625 &gt; 0.5\n• force_z PSI 0.42 &gt; 0.25"
    assert blocks[3]["text"]["text"] == "*Data quality*\n• force_x null rate 0.3 &gt; 0.2"
    assert blocks[4]["elements"][0]["url"] == "https://driftline.example.com/report/run-002"


def test_rate_limit_is_retried_after_retry_after(slack_fake: FakeServer) -> None:
    slack_fake.script = [Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "1"})]
    waited: list[float] = []
    bot(slack_fake, sleep=waited.append).send(MESSAGE)  # type: ignore[arg-type]
    assert len(slack_fake.requests) == 2
    assert waited == [1.0]  # the Retry-After, on the injected clock instead of the wall clock


def test_retry_after_beyond_the_cap_is_left_to_the_outbox(slack_fake: FakeServer) -> None:
    slack_fake.script = [Reply(429, {"ok": False, "error": "ratelimited"}, {"Retry-After": "120"})]
    with pytest.raises(NotifierRetryable, match="429"):
        bot(slack_fake).send(MESSAGE)
    assert len(slack_fake.requests) == 1


def test_server_errors_twice_then_ok(slack_fake: FakeServer) -> None:
    slack_fake.script = [Reply(503, "upstream unavailable"), Reply(503, "upstream unavailable")]
    bot(slack_fake).send(MESSAGE)
    assert len(slack_fake.requests) == 3


def test_server_errors_beyond_the_retries_are_retryable(slack_fake: FakeServer) -> None:
    slack_fake.down = True
    with pytest.raises(NotifierRetryable, match="503"):
        bot(slack_fake).send(MESSAGE)
    assert len(slack_fake.requests) == 3  # the first try and two retries


def test_invalid_token_is_rejected_without_retry(slack_fake: FakeServer) -> None:
    with pytest.raises(NotifierRejected, match="invalid_auth") as err:
        bot(slack_fake, token="xoxb-wrong-token-000").send(MESSAGE)
    assert len(slack_fake.requests) == 1
    assert "xoxb-wrong-token-000" not in str(err.value)


def test_unreachable_slack_is_retryable() -> None:
    fake = FakeServer(lambda req: Reply(200, {"ok": True}))
    url = fake.url
    fake.close()
    notifier = SlackNotifier(token=SLACK_TOKEN, channel="#x", base_url=f"{url}/api/", max_retries=1,
                             backoff_factor=0.01)
    with pytest.raises(NotifierRetryable):
        notifier.send(MESSAGE)


def test_webhook_posts_blocks(webhook_fake: FakeServer) -> None:
    hook(webhook_fake).send(MESSAGE)
    (req,) = webhook_fake.requests
    assert req.path == WEBHOOK_PATH
    assert req.json()["blocks"] == blocks_for(MESSAGE)


def test_webhook_errors_are_checked_because_the_client_does_not_raise(webhook_fake: FakeServer) -> None:
    with pytest.raises(NotifierRejected, match="404 no_service") as err:
        hook(webhook_fake, "/services/T000/B000/revoked").send(MESSAGE)
    assert "revoked" not in str(err.value)
    webhook_fake.script = [Reply(500, "internal error")] * 3
    with pytest.raises(NotifierRetryable, match="500"):
        hook(webhook_fake).send(MESSAGE)


def test_webhook_rate_limit_is_retried(webhook_fake: FakeServer) -> None:
    webhook_fake.script = [Reply(429, "rate_limited", {"Retry-After": "0"}), Reply(503, "unavailable")]
    hook(webhook_fake).send(MESSAGE)
    assert len(webhook_fake.requests) == 3


def test_needs_a_token_and_channel_or_a_webhook() -> None:
    with pytest.raises(ValueError, match="bot token and a channel"):
        SlackNotifier(token=SLACK_TOKEN)
