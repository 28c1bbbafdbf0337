"""The generic webhook channel: the message as a JSON body, signed with HMAC-SHA256, retried through the outbox.

The receiver checks `X-Driftline-Signature: sha256=<hex>` (the HMAC of the raw body with the shared
secret) and may de-duplicate on `Idempotency-Key`, which stays the same when the outbox retries.
HTTP stays in this module.
"""

from __future__ import annotations

import hashlib
import hmac
import json

from alerts.base import Message
from alerts.http import post
from alerts.redact import Redactor
from monitor.config.defaults import HTTP_CHANNEL_TIMEOUT

SIGNATURE_HEADER = "X-Driftline-Signature"


def body_for(message: Message) -> bytes:
    """The JSON body of one message (its incidents included, each with its dedup_key)."""
    return json.dumps({
        "model": message.model, "severity": message.severity, "headline": message.headline,
        "lines": list(message.lines), "run_id": message.run_id, "report_url": message.report_url,
        "idempotency_key": message.idempotency_key, "rule": message.rule, "subject": message.subject,
        "incidents": json.loads(message.extra.get("incidents") or "[]"),
    }, sort_keys=True).encode()


def signature(secret: str, body: bytes) -> str:
    """The signature header's value: sha256=<hex HMAC of the body>."""
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookNotifier:
    """POSTs each message as signed JSON to one URL."""

    name = "webhook"

    def __init__(self, *, url: str, secret: str, timeout: float = HTTP_CHANNEL_TIMEOUT,
                 redactor: Redactor | None = None) -> None:
        self._url = url
        self._secret = secret
        self._timeout = timeout
        self._redact = redactor or Redactor()
        self._redact.add(secret)

    def send(self, message: Message) -> None:
        body = body_for(message)
        headers = {"Content-Type": "application/json", SIGNATURE_HEADER: signature(self._secret, body),
                   "Idempotency-Key": message.idempotency_key}
        post("webhook", self._url, content=body, headers=headers, timeout=self._timeout, redact=self._redact)
