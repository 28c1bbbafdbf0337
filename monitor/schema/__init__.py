"""The types every room reads: run summaries, profiles and specs, alerting state."""
