"""The PagerDuty channel: Events API v2, one alert per Driftline incident, triggered and resolved by its dedup_key.

A grouped run message carries its incidents (Message.extra["incidents"]); each becomes one event:
`trigger` for news of a firing incident, `acknowledge` when someone acknowledged it in Driftline,
`resolve` when it ends, with the incident's dedup_key so
PagerDuty de-duplicates a resent trigger and closes the alert it opened. HTTP stays in this module.
"""

from __future__ import annotations

import json
from typing import Any

from alerts.base import Message
from alerts.http import post
from alerts.redact import Redactor
from monitor.config.defaults import HTTP_CHANNEL_TIMEOUT, PAGERDUTY_EVENTS_URL

_ACTIONS = {"resolve": "resolve", "acknowledge": "acknowledge"}  # every other transition is news: trigger
SEVERITY = {"critical": "critical", "warn": "warning", "resolved": "info", "info": "info"}


def events_for(message: Message, routing_key: str) -> list[dict[str, Any]]:
    """The Events API v2 bodies of one message: one per incident it reports."""
    out = []
    for inc in json.loads(message.extra.get("incidents") or "[]"):
        event: dict[str, Any] = {"routing_key": routing_key, "dedup_key": inc["dedup_key"],
                                 "event_action": _ACTIONS.get(inc["kind"], "trigger")}
        if event["event_action"] == "trigger":
            event["payload"] = {
                "summary": f"Driftline {message.model}: {inc['detail']}"[:1024],
                "source": f"driftline/{message.model}", "severity": SEVERITY.get(inc["severity"], "info"),
                "component": message.model, "group": inc["rule"], "class": inc["rule"],
                "custom_details": {"subject": inc["subject"], "run_id": message.run_id, "lines": list(message.lines)},
            }
            if message.report_url.startswith(("http://", "https://")):
                event["links"] = [{"href": message.report_url, "text": "Driftline run page"}]
        out.append(event)
    return out


class PagerDutyNotifier:
    """Sends each incident of a message to PagerDuty as a trigger or resolve event."""

    name = "pagerduty"

    def __init__(self, *, routing_key: str, url: str = PAGERDUTY_EVENTS_URL,
                 timeout: float = HTTP_CHANNEL_TIMEOUT, redactor: Redactor | None = None) -> None:
        self._key = routing_key
        self._url = url
        self._timeout = timeout
        self._redact = redactor or Redactor()
        self._redact.add(routing_key)

    def send(self, message: Message) -> None:
        # A retry resends the events already accepted: PagerDuty de-duplicates them by dedup_key.
        for event in events_for(message, self._key):
            post("pagerduty", self._url, json=event, timeout=self._timeout, redact=self._redact)
