"""The notifiers and the metrics sink built from a model's `channels:` config."""

from __future__ import annotations

from alerts.base import MetricsSink, Notifier
from alerts.console import ConsoleNotifier
from alerts.redact import Redactor
from monitor.config.channels import ChannelsConfig, secret_value
from monitor.schema.alerting import AlertState


def build_notifiers(channels: ChannelsConfig, redactor: Redactor | None = None) -> dict[str, Notifier]:
    """The notifiers by channel name: console, slack, one sms:<n> per recipient, pagerduty, webhook."""
    redactor = redactor or Redactor(channels.secrets())
    redactor.add(*channels.secrets())
    out: dict[str, Notifier] = {}
    if channels.console:
        out["console"] = ConsoleNotifier()
    if channels.slack is not None:
        from alerts.slack import SlackNotifier

        s = channels.slack
        out["slack"] = SlackNotifier(
            token=secret_value(s.bot_token), channel=s.channel, webhook_url=secret_value(s.webhook_url),
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
    if channels.pagerduty is not None:
        from alerts.pagerduty import PagerDutyNotifier

        pd = channels.pagerduty
        out["pagerduty"] = PagerDutyNotifier(routing_key=pd.routing_key.get_secret_value(), url=pd.url,
                                             timeout=pd.timeout, redactor=redactor)
    if channels.webhook is not None:
        from alerts.webhook import WebhookNotifier

        w = channels.webhook
        out["webhook"] = WebhookNotifier(url=w.url, secret=w.secret.get_secret_value(), timeout=w.timeout,
                                         redactor=redactor)
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
