"""The alert state (incidents, outbox, silences, meta) in the DuckDB store's own database file."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import fields
from datetime import datetime
from pathlib import Path
from typing import Any

import duckdb

from monitor.errors import StoreError
from monitor.schema.alerting import Delivery, Incident, Silence

_INCIDENT_COLS = [f.name for f in fields(Incident)]
_DELIVERY_COLS = [f.name for f in fields(Delivery)]
_SILENCE_COLS = [f.name for f in fields(Silence)]

_ALERT_DDL = """
CREATE TABLE IF NOT EXISTS driftline_alert_incidents (
    model VARCHAR, rule VARCHAR, subject VARCHAR, status VARCHAR, severity VARCHAR,
    opened_at TIMESTAMPTZ, last_notified_at TIMESTAMPTZ, last_notified_severity VARCHAR,
    last_window_end TIMESTAMPTZ, last_run_key VARCHAR,
    PRIMARY KEY (model, rule, subject));
CREATE TABLE IF NOT EXISTS driftline_alert_outbox (
    key VARCHAR PRIMARY KEY, model VARCHAR, run_key VARCHAR, rule VARCHAR, subject VARCHAR,
    channel VARCHAR, severity VARCHAR, payload VARCHAR, window_end TIMESTAMPTZ, position INTEGER,
    created_at TIMESTAMPTZ, status VARCHAR, attempts INTEGER, next_attempt_at TIMESTAMPTZ,
    last_error VARCHAR, delivered_at TIMESTAMPTZ);
CREATE TABLE IF NOT EXISTS driftline_alert_meta (key VARCHAR PRIMARY KEY, value VARCHAR);
ALTER TABLE driftline_alert_incidents ADD COLUMN IF NOT EXISTS acknowledged_by VARCHAR DEFAULT '';
ALTER TABLE driftline_alert_incidents ADD COLUMN IF NOT EXISTS acknowledged_at TIMESTAMPTZ;
ALTER TABLE driftline_alert_incidents ADD COLUMN IF NOT EXISTS silenced VARCHAR DEFAULT '';
CREATE TABLE IF NOT EXISTS driftline_alert_silences (
    id VARCHAR PRIMARY KEY, model VARCHAR, rule VARCHAR, subject VARCHAR, starts_at TIMESTAMPTZ,
    ends_at TIMESTAMPTZ, reason VARCHAR, created_by VARCHAR, created_at TIMESTAMPTZ);
ALTER TABLE driftline_alert_outbox ADD COLUMN IF NOT EXISTS claimed_by VARCHAR DEFAULT '';
ALTER TABLE driftline_alert_outbox ADD COLUMN IF NOT EXISTS claimed_until TIMESTAMPTZ;
"""


class DuckDBAlertState:
    """AlertState in DuckDB tables, on a given connection or a database file."""

    def __init__(self, connection_or_path: Any) -> None:
        if isinstance(connection_or_path, (str, Path)):
            self._con = duckdb.connect(str(connection_or_path))
        else:
            self._con = connection_or_path
        self._lock = threading.Lock()  # one DuckDB connection is not safe across threads
        self._run(_ALERT_DDL)

    def _run(self, sql: str, params: Sequence[Any] | None = None) -> list[tuple[Any, ...]]:
        try:
            with self._lock:
                # a cursor is its own session: the UTC setting does not leak into the caller's connection
                cur = self._con.cursor()
                try:
                    cur.execute("SET TimeZone = 'UTC'")
                    cur.execute(sql, params) if params is not None else cur.execute(sql)
                    return cur.fetchall() if cur.description else []
                finally:
                    cur.close()
        except duckdb.Error as exc:
            raise StoreError(f"alert state: {type(exc).__name__}: {exc}") from None

    def incidents(self, model: str) -> list[Incident]:
        rows = self._run(
            f"SELECT {', '.join(_INCIDENT_COLS)} FROM driftline_alert_incidents WHERE model = ?", [model]
        )
        return [Incident(*r) for r in rows]

    def save_incidents(self, incidents: Sequence[Incident]) -> None:
        cols = ", ".join(_INCIDENT_COLS)
        marks = ", ".join("?" for _ in _INCIDENT_COLS)
        for inc in incidents:
            self._run(
                f"INSERT OR REPLACE INTO driftline_alert_incidents ({cols}) VALUES ({marks})",
                [getattr(inc, c) for c in _INCIDENT_COLS],
            )

    def add_deliveries(self, rows: Sequence[Delivery]) -> int:
        cols = ", ".join(_DELIVERY_COLS)
        marks = ", ".join("?" for _ in _DELIVERY_COLS)
        inserted = 0
        for row in rows:
            before = self._run("SELECT count(*) FROM driftline_alert_outbox WHERE key = ?", [row.key])[0][0]
            if before:
                continue
            self._run(
                f"INSERT INTO driftline_alert_outbox ({cols}) VALUES ({marks})",
                [getattr(row, c) for c in _DELIVERY_COLS],
            )
            inserted += 1
        return inserted

    def _deliveries(self, model: str, status: str | None) -> list[Delivery]:
        rows = self._run(
            f"SELECT {', '.join(_DELIVERY_COLS)} FROM driftline_alert_outbox "
            "WHERE model = ? AND (? IS NULL OR status = ?) ORDER BY window_end, position, created_at",
            [model, status, status],
        )
        return [Delivery(*r) for r in rows]

    def pending_deliveries(self, model: str) -> list[Delivery]:
        return self._deliveries(model, "pending")

    def deliveries(self, model: str) -> list[Delivery]:
        """Every outbox row of a model, oldest first (for tests and the status page)."""
        return self._deliveries(model, None)

    def update_delivery(self, row: Delivery) -> None:
        self._run(
            "UPDATE driftline_alert_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_error = ?, delivered_at = ?, claimed_by = '', claimed_until = NULL WHERE key = ?",
            [row.status, row.attempts, row.next_attempt_at, row.last_error, row.delivered_at, row.key],
        )

    def claim_delivery(self, key: str, owner: str, now: datetime, until: datetime) -> bool:
        # one statement under the state's lock: of two senders, exactly one sees the row unclaimed
        changed = self._run(
            "UPDATE driftline_alert_outbox SET claimed_by = ?, claimed_until = ? WHERE key = ? AND status = 'pending' "
            "AND (claimed_until IS NULL OR claimed_until < ? OR claimed_by = ?)", [owner, until, key, now, owner])
        return bool(changed and changed[0][0])

    def failed_deliveries(self, model: str) -> list[Delivery]:
        return self._deliveries(model, "failed")

    def requeue_failed(self, model: str, channel: str | None, now: datetime) -> int:
        changed = self._run(
            "UPDATE driftline_alert_outbox SET status = 'pending', attempts = 0, next_attempt_at = NULL, "
            "created_at = ?, claimed_by = '', claimed_until = NULL WHERE model = ? AND status = 'failed' "
            "AND (? IS NULL OR channel = ? OR channel LIKE ? || ':%')", [now, model, channel, channel, channel])
        return int(changed[0][0]) if changed else 0

    def prune_deliveries(self, before: datetime) -> int:
        changed = self._run("DELETE FROM driftline_alert_outbox WHERE status IN ('delivered', 'failed') "
                            "AND created_at < ?", [before])
        return int(changed[0][0]) if changed else 0

    def silences(self, model: str) -> list[Silence]:
        rows = self._run(f"SELECT {', '.join(_SILENCE_COLS)} FROM driftline_alert_silences WHERE model = ? "
                         "ORDER BY created_at DESC, id DESC", [model])
        return [Silence(*r) for r in rows]

    def save_silence(self, silence: Silence) -> None:
        self._run(f"INSERT OR REPLACE INTO driftline_alert_silences ({', '.join(_SILENCE_COLS)}) "
                  f"VALUES ({', '.join('?' for _ in _SILENCE_COLS)})", [getattr(silence, c) for c in _SILENCE_COLS])

    def get_meta(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM driftline_alert_meta WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO driftline_alert_meta (key, value) VALUES (?, ?)", [key, value])
