"""Driftline's monitor: the rooms below, each a layer; monitor/api and monitor/cli wire them together."""
