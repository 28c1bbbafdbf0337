"""The `channels:` section of a model's config: which channels exist and their credentials."""

from __future__ import annotations

import base64
import json
import re
from urllib.parse import quote, quote_plus, urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from monitor.config.defaults import HTTP_CHANNEL_TIMEOUT, PAGERDUTY_EVENTS_URL

E164 = re.compile(r"^\+[1-9]\d{6,14}$")


def valid_e164(number: str) -> bool:
    """Whether a phone number is E.164: +, a country code, up to 15 digits in all."""
    return bool(E164.match(number))


def mask_phone(number: str) -> str:
    """A phone number with all but its last four digits hidden: +*******4567."""
    number = number.strip()
    prefix = "+" if number.startswith(("+", "%2B")) else ""
    digits = re.sub(r"\D", "", number.removeprefix("%2B"))
    return prefix + "*" * max(len(digits) - 4, 0) + digits[-4:]


def secret_forms(secret: str) -> set[str]:
    """A secret as it may be quoted in a log line or error: raw, URL-encoded, JSON-escaped, base64."""
    forms = {secret, quote(secret, safe=""), quote(secret), quote_plus(secret),
             json.dumps(secret)[1:-1], secret.replace("/", "\\/"),
             base64.b64encode(secret.encode()).decode().rstrip("=")}
    return {f for f in forms if f}


def basic_credential(user: str, password: str) -> str:
    """The base64 of `user:password` that an HTTP Basic Authorization header carries (Twilio's)."""
    return base64.b64encode(f"{user}:{password}".encode()).decode()


def secret_value(value: SecretStr | None) -> str | None:
    return value.get_secret_value() if value is not None else None


class SlackChannel(BaseModel):
    """A Slack bot token and channel (chat.postMessage), or an incoming webhook URL."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    bot_token: SecretStr | None = None
    channel: str | None = None
    webhook_url: SecretStr | None = None
    base_url: str = "https://slack.com/api/"  # a Slack-compatible fake or proxy in tests
    timeout: int = Field(default=10, ge=1)
    max_retries: int = Field(default=2, ge=0)
    backoff_factor: float = Field(default=0.5, ge=0)  # seconds; the SDK doubles it per retry
    max_retry_after: float = Field(default=30.0, ge=0)  # a longer Retry-After is left to the outbox

    @model_validator(mode="after")
    def _one_way(self) -> SlackChannel:
        if not self.webhook_url and not (self.bot_token and self.channel):
            raise ValueError("slack needs bot_token and channel, or webhook_url")
        return self


class SmsChannel(BaseModel):
    """Twilio credentials, a from-number or messaging service SID, and E.164 recipients."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    account_sid: str
    auth_token: SecretStr
    from_number: str | None = None
    messaging_service_sid: str | None = None
    recipients: list[str] = Field(min_length=1)
    api_base_url: str | None = None  # a Twilio-compatible fake in tests
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("recipients", "from_number")
    @classmethod
    def _e164(cls, value: list[str] | str | None) -> list[str] | str | None:
        numbers = [value] if isinstance(value, str) else value or []
        bad = [mask_phone(n) or repr(n) for n in numbers if not valid_e164(n)]
        if bad:
            raise ValueError(f"not E.164 (+ country code, up to 15 digits): {', '.join(bad)}")
        return value

    @model_validator(mode="after")
    def _one_sender(self) -> SmsChannel:
        if bool(self.from_number) == bool(self.messaging_service_sid):
            raise ValueError("sms needs exactly one of from_number and messaging_service_sid")
        return self


class CloudMonitoringChannel(BaseModel):
    """The Google Cloud project that receives the custom metrics."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    project: str
    endpoint: str | None = None  # host:port of an emulator or fake (plain gRPC)
    timeout: float = Field(default=20.0, gt=0)
    retry_initial: float = Field(default=1.0, gt=0)
    retry_deadline: float = Field(default=30.0, ge=0)


class PagerDutyChannel(BaseModel):
    """A PagerDuty service's Events API v2 integration (routing) key."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    routing_key: SecretStr
    url: str = PAGERDUTY_EVENTS_URL  # a fake in tests
    timeout: float = Field(default=HTTP_CHANNEL_TIMEOUT, gt=0)


class WebhookChannel(BaseModel):
    """A URL that receives each message as JSON, signed with HMAC-SHA256 of a shared secret."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    url: str
    secret: SecretStr = Field(min_length=16)
    timeout: float = Field(default=HTTP_CHANNEL_TIMEOUT, gt=0)


class ChannelsConfig(BaseModel):
    """The `channels:` section: which channels exist and their credentials (console is always on)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    console: bool = True
    slack: SlackChannel | None = None
    sms: SmsChannel | None = None
    cloud_monitoring: CloudMonitoringChannel | None = None
    pagerduty: PagerDutyChannel | None = None
    webhook: WebhookChannel | None = None

    def secrets(self) -> list[str]:
        """Every secret value configured, for redacting logs and errors (Redactor adds their encoded forms)."""
        hook = secret_value(self.slack.webhook_url) if self.slack else None
        values = [
            secret_value(self.slack.bot_token) if self.slack else None,
            hook,
            urlparse(hook).path if hook else None,  # HTTP logs quote the path alone
            secret_value(self.sms.auth_token) if self.sms else None,
            # The account SID names the account in every Twilio URL and, with the token, makes the Basic credential.
            self.sms.account_sid if self.sms else None,
            basic_credential(self.sms.account_sid, self.sms.auth_token.get_secret_value()) if self.sms else None,
            secret_value(self.pagerduty.routing_key) if self.pagerduty else None,
            secret_value(self.webhook.secret) if self.webhook else None,
        ]
        return [v for v in values if v]
