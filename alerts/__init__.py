"""Alerting: rules over run summaries, incidents, the outbox, and one adapter per channel (Slack, SMS, metrics)."""
