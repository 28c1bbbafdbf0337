"""One HTTP POST for the JSON channels (PagerDuty, webhook): httpx's errors and replies become ours here."""

from __future__ import annotations

from typing import Any

import httpx

from alerts.redact import Redactor
from monitor.errors import NotifierRejected, NotifierRetryable


def post(channel: str, url: str, *, timeout: float, redact: Redactor, **request: Any) -> httpx.Response:
    """POST, then classify: a network error, 429 or 5xx is retryable, another non-2xx reply is refused."""
    try:
        response = httpx.post(url, timeout=timeout, **request)
    except httpx.HTTPError as exc:
        raise NotifierRetryable(f"{channel}: {type(exc).__name__}: {redact(str(exc))[:200]}") from None
    except Exception as exc:  # noqa: BLE001 - anything else the transport raises is this channel's, not the run's
        raise NotifierRetryable(f"{channel}: {type(exc).__name__}: {redact(str(exc))[:200]}") from None
    if response.status_code == 429 or response.status_code >= 500:
        raise NotifierRetryable(f"{channel}: HTTP {response.status_code}: {redact(response.text)[:200]}")
    if response.status_code >= 300:
        raise NotifierRejected(f"{channel}: HTTP {response.status_code}: {redact(response.text)[:200]}")
    return response
