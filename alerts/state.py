"""Where incidents and the outbox persist between runs: a small Protocol and its DuckDB implementation.

Each method is one SQL statement on one of three tables, so a BigQuery implementation is
the same statements in its dialect (MERGE for the upserts).
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

from monitor.errors import StoreError


@dataclass
class Incident:
    """One incident per (model, rule, subject): open or resolved, and what was last said about it."""

    model: str
    rule: str
    subject: str
    status: str  # open | resolved
    severity: str  # warn | critical: the current level while open, the last one once resolved
    opened_at: datetime  # window end of the run that opened it
    last_notified_at: datetime
    last_notified_severity: str
    last_window_end: datetime  # newest window evaluated: an older or equal one is a retry
    last_run_key: str


@dataclass
class Delivery:
    """One outbox row: a payload for one channel, written before it is sent."""

    key: str  # idempotency key: run, rule, subject, channel
    model: str
    run_key: str
    rule: str
    subject: str
    channel: str
    severity: str
    payload: str  # JSON of the Message (or of the metric points)
    window_end: datetime  # with position, the order of delivery: oldest first
    position: int
    created_at: datetime
    status: str = "pending"  # pending | delivered | failed (given up)
    attempts: int = 0
    next_attempt_at: datetime | None = None
    last_error: str = ""
    delivered_at: datetime | None = None


class AlertState(Protocol):
    """The persistent state of alerting; implementations create their tables if missing."""

    def incidents(self, model: str) -> list[Incident]: ...

    def save_incidents(self, incidents: Sequence[Incident]) -> None: ...  # upsert by (model, rule, subject)

    def add_deliveries(self, rows: Sequence[Delivery]) -> int: ...  # insert absent keys; count inserted

    def pending_deliveries(self, model: str) -> list[Delivery]: ...  # status pending, oldest first

    def update_delivery(self, row: Delivery) -> None: ...

    def get_meta(self, key: str) -> str | None: ...

    def set_meta(self, key: str, value: str) -> None: ...


_INCIDENT_COLS = [f.name for f in fields(Incident)]
_DELIVERY_COLS = [f.name for f in fields(Delivery)]

_DDL = """
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
"""


class DuckDBAlertState:
    """AlertState in DuckDB tables, on a given connection or a database file."""

    def __init__(self, connection_or_path: Any) -> None:
        import duckdb

        self._duckdb = duckdb
        if isinstance(connection_or_path, (str, Path)):
            self._con = duckdb.connect(str(connection_or_path))
        else:
            self._con = connection_or_path
        self._lock = threading.Lock()  # one DuckDB connection is not safe across threads
        self._run(_DDL)

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
        except self._duckdb.Error as exc:
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

    def pending_deliveries(self, model: str) -> list[Delivery]:
        rows = self._run(
            f"SELECT {', '.join(_DELIVERY_COLS)} FROM driftline_alert_outbox "
            "WHERE model = ? AND status = 'pending' ORDER BY window_end, position, created_at",
            [model],
        )
        return [Delivery(*r) for r in rows]

    def deliveries(self, model: str) -> list[Delivery]:
        """Every outbox row of a model, oldest first (for tests and the status page)."""
        rows = self._run(
            f"SELECT {', '.join(_DELIVERY_COLS)} FROM driftline_alert_outbox "
            "WHERE model = ? ORDER BY window_end, position, created_at",
            [model],
        )
        return [Delivery(*r) for r in rows]

    def update_delivery(self, row: Delivery) -> None:
        self._run(
            "UPDATE driftline_alert_outbox SET status = ?, attempts = ?, next_attempt_at = ?, "
            "last_error = ?, delivered_at = ? WHERE key = ?",
            [row.status, row.attempts, row.next_attempt_at, row.last_error, row.delivered_at, row.key],
        )

    def get_meta(self, key: str) -> str | None:
        rows = self._run("SELECT value FROM driftline_alert_meta WHERE key = ?", [key])
        return rows[0][0] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        self._run("INSERT OR REPLACE INTO driftline_alert_meta (key, value) VALUES (?, ?)", [key, value])
