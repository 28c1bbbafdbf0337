"""Slack with slack-sdk: chat.postMessage with Block Kit through a bot token, or an incoming webhook.

The SDK's retry handlers retry 429 (honouring Retry-After up to a cap) and 5xx inside one
send; what still fails becomes NotifierRetryable (the outbox retries it on a later run) or
NotifierRejected (bad token, unknown channel: given up).
"""

from __future__ import annotations

import random
import time
from collections.abc import Callable
from typing import Any

from slack_sdk.errors import SlackApiError
from slack_sdk.http_retry.builtin_handlers import (
    ConnectionErrorRetryHandler,
    RateLimitErrorRetryHandler,
    ServerErrorRetryHandler,
)
from slack_sdk.http_retry.builtin_interval_calculators import BackoffRetryIntervalCalculator
from slack_sdk.http_retry.handler import RetryHandler
from slack_sdk.http_retry.jitter import Jitter
from slack_sdk.http_retry.request import HttpRequest
from slack_sdk.http_retry.response import HttpResponse
from slack_sdk.http_retry.state import RetryState
from slack_sdk.web import WebClient
from slack_sdk.webhook import WebhookClient

from alerts.base import Message
from alerts.redact import Redactor, redacting_logger
from monitor.errors import NotifierError, NotifierRejected, NotifierRetryable

# Slack error codes that may pass on their own; anything else is a configuration problem
_TRANSIENT = {"ratelimited", "service_unavailable", "fatal_error", "internal_error", "request_timeout"}
_EMOJI = {"warn": ":warning:", "critical": ":rotating_light:", "resolved": ":white_check_mark:", "info": ""}


class CappedRateLimitHandler(RateLimitErrorRetryHandler):
    """The SDK's 429 handler, but a Retry-After longer than `max_wait` seconds is left to the outbox."""

    def __init__(self, max_retry_count: int, max_wait: float, sleep: Callable[[float], None] = time.sleep) -> None:
        super().__init__(max_retry_count=max_retry_count)
        self.max_wait = max_wait
        self._sleep = sleep  # injectable, so tests wait on a clock of their own

    @staticmethod
    def _retry_after(response: HttpResponse) -> float:
        """Retry-After in seconds; a malformed one (negative, not a number, infinite) counts as 1 s."""
        for key, values in response.headers.items():
            if key.lower() == "retry-after" and values:
                try:
                    wait = float(values[0])
                except ValueError:
                    break
                return wait if 0 <= wait < float("inf") else 1.0
        return 1.0

    def _can_retry(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> bool:
        return response is not None and response.status_code == 429 and (
            self._retry_after(response) <= self.max_wait
        )

    def prepare_for_next_attempt(
        self,
        *,
        state: RetryState,
        request: HttpRequest,
        response: HttpResponse | None = None,
        error: Exception | None = None,
    ) -> None:
        assert response is not None
        state.next_attempt_requested = True
        self._sleep(self._retry_after(response))
        state.increment_current_attempt()


class ProportionalJitter(Jitter):
    """Up to one backoff factor of random jitter (the SDK's default adds up to a whole second)."""

    def __init__(self, scale: float) -> None:
        self.scale = scale

    def recalculate(self, duration: float) -> float:
        return duration + random.random() * self.scale


def retry_handlers(max_retries: int, backoff_factor: float, max_retry_after: float,
                   sleep: Callable[[float], None] = time.sleep) -> list[RetryHandler]:
    """Retries for connection errors, 429 and 5xx with the given short-or-long waits."""
    interval = BackoffRetryIntervalCalculator(
        backoff_factor=backoff_factor, jitter=ProportionalJitter(backoff_factor)
    )
    return [
        ConnectionErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
        CappedRateLimitHandler(max_retry_count=max_retries, max_wait=max_retry_after, sleep=sleep),
        ServerErrorRetryHandler(max_retry_count=max_retries, interval_calculator=interval),
    ]


def _esc(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def blocks_for(message: Message) -> list[dict[str, Any]]:
    """The Block Kit layout: headline, severity, changed values with thresholds, data quality, link."""
    emoji = _EMOJI.get(message.severity, "")
    blocks: list[dict[str, Any]] = [
        {"type": "header", "text": {"type": "plain_text", "text": message.headline[:150]}},
        {
            "type": "section",
            "fields": [
                {"type": "mrkdwn", "text": f"*Severity*\n{emoji} {message.severity.upper()}".strip()},
                {"type": "mrkdwn", "text": f"*Model*\n{_esc(message.model)}"},
                {"type": "mrkdwn", "text": f"*Rule*\n{_esc(message.rule)} ({_esc(message.subject)})"},
                {"type": "mrkdwn", "text": f"*Run*\n{_esc(message.run_id)}"},
            ],
        },
    ]
    if message.lines:
        text = "\n".join(f"• {_esc(line)}" for line in message.lines)
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    quality = message.extra.get("data_quality", "")
    if quality:
        text = "*Data quality*\n" + "\n".join(f"• {_esc(line)}" for line in quality.splitlines())
        blocks.append({"type": "section", "text": {"type": "mrkdwn", "text": text[:3000]}})
    if message.report_url:
        buttons = [{"type": "button", "text": {"type": "plain_text", "text": "Open report"},
                    "url": message.report_url}]
        if message.extra.get("ack_url"):  # lands on Driftline's authenticated confirm page
            buttons.append({"type": "button", "text": {"type": "plain_text", "text": "Acknowledge"},
                            "url": message.extra["ack_url"]})
        blocks.append({"type": "actions", "elements": buttons})
    return blocks


def fallback_text(message: Message) -> str:
    """The notification text shown where blocks are not (phone banners, screen readers)."""
    return f"{message.severity.upper()} {message.headline}"


class SlackNotifier:
    """Posts a message to Slack with a bot token and channel, or to an incoming webhook."""

    name = "slack"

    def __init__(
        self,
        *,
        token: str | None = None,
        channel: str | None = None,
        webhook_url: str | None = None,
        base_url: str = WebClient.BASE_URL,
        timeout: int = 10,
        max_retries: int = 2,
        backoff_factor: float = 0.5,
        max_retry_after: float = 30.0,
        redactor: Redactor | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        if not webhook_url and not (token and channel):
            raise ValueError("slack needs a bot token and a channel, or a webhook URL")
        self._redact = redactor or Redactor()
        self._redact.add(*(s for s in (token, webhook_url) if s))
        logger = redacting_logger("driftline.alerts.slack_sdk", self._redact)
        handlers = retry_handlers(max_retries, backoff_factor, max_retry_after, sleep)
        self._channel = channel
        self._web = None if webhook_url else WebClient(
            token=token, base_url=base_url, timeout=timeout, logger=logger, retry_handlers=handlers
        )
        self._hook = WebhookClient(
            webhook_url, timeout=timeout, logger=logger, retry_handlers=handlers
        ) if webhook_url else None

    def send(self, message: Message) -> None:
        blocks, text = blocks_for(message), fallback_text(message)
        try:
            if self._hook is not None:
                resp = self._hook.send(text=text, blocks=blocks)
                # WebhookClient returns errors instead of raising them
                if resp.status_code != 200:
                    self._fail(resp.status_code, resp.body or "")
                return
            assert self._web is not None
            self._web.chat_postMessage(channel=self._channel or "", text=text, blocks=blocks)
        except NotifierError:
            raise  # _fail's own verdict on a webhook reply
        except SlackApiError as exc:
            status = exc.response.status_code
            error = exc.response.get("error", "") if isinstance(exc.response.data, dict) else ""
            self._fail(status, str(error or exc.response.data)[:200])
        except Exception as exc:  # noqa: BLE001 - the transport, or a malformed reply (bad JSON, header): Slack's, not the run's
            raise NotifierRetryable(f"slack: {type(exc).__name__}: {self._redact(str(exc))[:200]}") from None

    def _fail(self, status: int, error: str) -> None:
        detail = self._redact(f"slack: HTTP {status} {error}".strip())
        if status == 429 or status >= 500 or error in _TRANSIENT:
            raise NotifierRetryable(detail)
        raise NotifierRejected(detail)
