"""Channel settings of a model's config (`channels:`) and the notifiers and metrics sink built from them."""

from __future__ import annotations

from urllib.parse import urlparse

from pydantic import BaseModel, ConfigDict, Field, SecretStr, field_validator, model_validator

from alerts.base import MetricsSink, Notifier
from alerts.console import ConsoleNotifier
from alerts.redact import Redactor, mask_phone
from alerts.state import AlertState


def _secret(value: SecretStr | None) -> str | None:
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
        from alerts.sms import valid_e164

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


class ChannelsConfig(BaseModel):
    """The `channels:` section: which channels exist and their credentials (console is always on)."""

    model_config = ConfigDict(extra="forbid", hide_input_in_errors=True)
    console: bool = True
    slack: SlackChannel | None = None
    sms: SmsChannel | None = None
    cloud_monitoring: CloudMonitoringChannel | None = None

    def secrets(self) -> list[str]:
        """Every secret value configured, for redacting logs and errors."""
        hook = _secret(self.slack.webhook_url) if self.slack else None
        values = [
            _secret(self.slack.bot_token) if self.slack else None,
            hook,
            urlparse(hook).path if hook else None,  # HTTP logs quote the path alone
            _secret(self.sms.auth_token) if self.sms else None,
        ]
        return [v for v in values if v]


def build_notifiers(channels: ChannelsConfig, redactor: Redactor | None = None) -> dict[str, Notifier]:
    """The notifiers by channel name: console, slack, and one sms:<n> per recipient."""
    redactor = redactor or Redactor(channels.secrets())
    redactor.add(*channels.secrets())
    out: dict[str, Notifier] = {}
    if channels.console:
        out["console"] = ConsoleNotifier()
    if channels.slack is not None:
        from alerts.slack import SlackNotifier

        s = channels.slack
        out["slack"] = SlackNotifier(
            token=_secret(s.bot_token), channel=s.channel, webhook_url=_secret(s.webhook_url),
            base_url=s.base_url, timeout=s.timeout, max_retries=s.max_retries,
            backoff_factor=s.backoff_factor, max_retry_after=s.max_retry_after, redactor=redactor,
        )
    if channels.sms is not None:
        from alerts.sms import SmsNotifier

        t = channels.sms
        for i, number in enumerate(t.recipients, start=1):
            name = f"sms:{i}"
            out[name] = SmsNotifier(
                account_sid=t.account_sid, auth_token=t.auth_token.get_secret_value(), to=number,
                from_number=t.from_number, messaging_service_sid=t.messaging_service_sid,
                api_base_url=t.api_base_url, timeout=t.timeout, name=name, redactor=redactor,
            )
    return out


def build_metrics_sink(channels: ChannelsConfig, state: AlertState | None = None) -> MetricsSink | None:
    """The Cloud Monitoring sink when a project is configured, else None (Prometheus needs no sink)."""
    if channels.cloud_monitoring is None:
        return None
    from alerts.cloud_monitoring import CloudMonitoringSink

    c = channels.cloud_monitoring
    return CloudMonitoringSink(
        c.project, endpoint=c.endpoint, state=state, timeout=c.timeout,
        retry_initial=c.retry_initial, retry_deadline=c.retry_deadline,
    )
