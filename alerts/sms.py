"""SMS pages with twilio: critical only, one segment, one recipient per notifier.

The Twilio client raises TwilioRestException on 4xx/5xx and retries nothing; 429 and 5xx
become NotifierRetryable so the outbox retries them on a later run, other 4xx (an invalid
number, bad credentials) NotifierRejected. One notifier per recipient keeps each page's
outbox row separate, so a retry never pages a recipient twice.
"""

from __future__ import annotations

import json
import logging

from twilio.base.exceptions import TwilioRestException
from twilio.http.http_client import TwilioHttpClient
from twilio.rest import Client

from alerts.base import Message
from alerts.redact import Redactor, redacting_logger
from monitor.config.channels import mask_phone, valid_e164
from monitor.errors import NotifierRejected, NotifierRetryable

log = logging.getLogger("driftline.alerts")
SEGMENT = 160  # one GSM-7 SMS segment
# GSM-7 basic set, ASCII part; ^{}\[]~| are 2-septet escapes and best avoided
_GSM_ASCII = set(" !\"#%&'()*+,-./0123456789:;<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz\n$")


def _gsm(text: str) -> str:
    return "".join(c if c in _GSM_ASCII else "?" for c in text.replace("≥", ">=").replace("≤", "<="))


def sms_text(message: Message) -> str:
    """The message as one GSM-7 segment: 'Driftline CRITICAL model: detail. link'."""
    head = _gsm(f"Driftline {message.severity.upper()} {message.model}: ")
    detail = _gsm(message.extra.get("short") or message.headline).rstrip(". ")
    link = _gsm(message.report_url)
    if len(head) + len(link) + 20 > SEGMENT:
        link = ""  # a link too long to leave room for the news is dropped, not cut
    tail = f". {link}" if link else ""
    if len(head) + len(detail) + len(tail) <= SEGMENT:
        return head + detail + tail
    room = SEGMENT - len(head) - len(tail[1:]) - 3
    return (head + detail[:room].rstrip() + "..." + tail[1:])[:SEGMENT]


class SmsNotifier:
    """Sends critical messages as one SMS to one recipient through Twilio."""

    def __init__(
        self,
        *,
        account_sid: str,
        auth_token: str,
        to: str,
        from_number: str | None = None,
        messaging_service_sid: str | None = None,
        api_base_url: str | None = None,
        timeout: float = 10.0,
        name: str = "sms",
        redactor: Redactor | None = None,
    ) -> None:
        if bool(from_number) == bool(messaging_service_sid):
            raise ValueError("sms needs exactly one of from_number and messaging_service_sid")
        if not valid_e164(to):
            raise ValueError(f"sms recipient {mask_phone(to)} is not an E.164 number")
        self.name = name
        self._to = to
        self._from = from_number
        self._service = messaging_service_sid
        self._redact = redactor or Redactor()
        self._redact.add(auth_token)
        logger = redacting_logger("driftline.alerts.twilio", self._redact)
        http = TwilioHttpClient(timeout=timeout, logger=logger)
        self._client = Client(account_sid, auth_token, http_client=http)
        if api_base_url:
            # an emulator or a test fake speaking the same REST API
            self._client.api.base_url = api_base_url.rstrip("/")

    def send(self, message: Message) -> None:
        if message.severity != "critical":
            raise NotifierRejected(f"sms carries critical alerts only, not {message.severity}")
        sender = {"from_": self._from} if self._from else {"messaging_service_sid": self._service}
        try:
            self._client.messages.create(to=self._to, body=sms_text(message), **sender)
        except TwilioRestException as exc:
            detail = self._redact(f"twilio: HTTP {exc.status} code {exc.code}: {exc.msg}")[:300]
            if exc.status == 429 or exc.status >= 500:
                raise NotifierRetryable(detail) from None
            raise NotifierRejected(detail) from None
        except json.JSONDecodeError:
            # The client checks the status before it parses the body: a body that is not JSON came with a
            # 2xx, so Twilio accepted the message. Sending it again would page the recipient twice.
            log.warning("twilio accepted the SMS to %s but its reply was not JSON", mask_phone(self._to))
        except Exception as exc:  # noqa: BLE001 - the transport or anything else: this channel's, never the run's
            raise NotifierRetryable(f"twilio: {type(exc).__name__}: {self._redact(str(exc))[:200]}") from None
