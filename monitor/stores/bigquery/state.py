"""Alerting's persistent state (monitor.schema.alerting.AlertState) in four tables of a BigQuery store's dataset.

The same statements as monitor.stores.duckdb.DuckDBAlertState in BigQuery's dialect: each upsert is one
MERGE per batch (atomic, and a retried statement changes nothing more), values are typed query
parameters, every table and column name passes monitor.sql.queries.check_identifier, and the store's
boundary turns the client's errors into monitor.errors (StoreError, StoreUnavailable, TableNotFound).
Timestamps come back timezone-aware in UTC, as DuckDBAlertState returns them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import fields, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from monitor.schema.alerting import Delivery, Incident, Silence
from monitor.sql.queries import Query, check_identifier
from monitor.stores.bigquery.schema import Field, Typed

if TYPE_CHECKING:
    from monitor.stores.bigquery.store import BigQueryStore

INCIDENTS_TABLE = "driftline_alert_incidents"
OUTBOX_TABLE = "driftline_alert_outbox"
META_TABLE = "driftline_alert_meta"
SILENCES_TABLE = "driftline_alert_silences"
_BATCH = 50  # rows per MERGE: keeps a statement's parameters and text far below BigQuery's limits
# The dataclasses' annotations (strings under `from __future__ import annotations`) -> column types.
_TYPES = {"str": "STRING", "int": "INT64", "datetime": "TIMESTAMP", "datetime | None": "TIMESTAMP"}
_Row = TypeVar("_Row", Incident, Delivery, Silence)


def _schema(cls: type[Any], keys: Sequence[str]) -> list[Field]:
    """A table's columns from a dataclass; an annotation without a BigQuery type fails at import."""
    return [(check_identifier(f.name), _TYPES[str(f.type)], "REQUIRED" if f.name in keys else "NULLABLE")
            for f in fields(cls)]


_INCIDENT_KEYS = ("model", "rule", "subject")
INCIDENTS_SCHEMA = _schema(Incident, _INCIDENT_KEYS)
OUTBOX_SCHEMA = _schema(Delivery, ("key",))
META_SCHEMA: list[Field] = [("key", "STRING", "REQUIRED"), ("value", "STRING", "NULLABLE")]
SILENCES_SCHEMA = _schema(Silence, ("id",))
_INCIDENT_TYPES = {n: t for n, t, _ in INCIDENTS_SCHEMA}
_SILENCE_TYPES = {n: t for n, t, _ in SILENCES_SCHEMA}
_DELIVERY_TYPES = {n: t for n, t, _ in OUTBOX_SCHEMA}


def _chunks(rows: Sequence[_Row]) -> Iterator[Sequence[_Row]]:
    for i in range(0, len(rows), _BATCH):
        yield rows[i:i + _BATCH]


class BigQueryAlertState:
    """AlertState in BigQuery tables of a BigQueryStore's dataset (created by `init`, safe twice)."""

    def __init__(self, store: BigQueryStore) -> None:
        self._store = store
        self._q = store.dialect.q

    def init(self) -> None:
        """Create the incident, outbox, meta and silence tables unless they exist."""
        self._store.create_table(INCIDENTS_TABLE, INCIDENTS_SCHEMA, cluster=["model"])
        self._store.create_table(OUTBOX_TABLE, OUTBOX_SCHEMA, cluster=["model", "status"])
        self._store.create_table(META_TABLE, META_SCHEMA)
        self._store.create_table(SILENCES_TABLE, SILENCES_SCHEMA, cluster=["model"])
        # An incidents table from before acknowledgement and silences gains their (nullable) columns.
        # An outbox from before claims gains claimed_by / claimed_until.
        for table, schema in ((INCIDENTS_TABLE, INCIDENTS_SCHEMA), (OUTBOX_TABLE, OUTBOX_SCHEMA)):
            have = self._store.columns(table)
            for name, kind, _ in schema:
                if name not in have:
                    self._store.execute(Query(f"ALTER TABLE {self._store.table(table)} ADD COLUMN IF NOT EXISTS "
                                              f"{self._q(name)} {kind}", {}), f"adding a column to {table}")

    # -- statements ------------------------------------------------------------------------------

    def _select(self, table: str, types: Mapping[str, str], where: str, params: dict[str, Any],
                order: Sequence[str]) -> list[dict[str, Any]]:
        cols = ", ".join(self._q(c) for c in types)
        rows = self._store.query(Query(
            f"SELECT {cols} FROM {self._store.table(table)} WHERE {where} "
            f"ORDER BY {', '.join(self._q(c) for c in order)}", params))
        # The store hands timestamps back naive (like its DuckDB twin); the alert engine compares aware UTC.
        return [{c: v.replace(tzinfo=UTC) if isinstance(v, datetime) and v.tzinfo is None else v
                 for c, v in r.items()} for r in rows]

    def _merge(self, table: str, types: Mapping[str, str], keys: Sequence[str], rows: Sequence[Any],
               *, update: bool, what: str) -> int:
        """One MERGE of `rows` (dataclasses) by `keys`: insert absent ones, and update present ones if asked."""
        params: dict[str, Any] = {}
        selects = []
        for i, row in enumerate(rows):
            parts = []
            for col, kind in types.items():
                params[f"r{i}_{col}"] = Typed(kind, getattr(row, col))
                parts.append(f"@r{i}_{col} AS {self._q(col)}")
            selects.append("SELECT " + ", ".join(parts))
        cols = [self._q(c) for c in types]
        on = " AND ".join(f"T.{self._q(k)} = S.{self._q(k)}" for k in keys)
        sets = ", ".join(f"{c} = S.{c}" for c in cols if c not in {self._q(k) for k in keys})
        matched = f"WHEN MATCHED THEN UPDATE SET {sets} " if update else ""
        return self._store.execute(Query(
            f"MERGE {self._store.table(table)} AS T USING ({' UNION ALL '.join(selects)}) AS S ON {on} "
            f"{matched}WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('S.' + c for c in cols)})",
            params), what)

    # -- the AlertState protocol -----------------------------------------------------------------

    def incidents(self, model: str) -> list[Incident]:
        rows = self._select(INCIDENTS_TABLE, _INCIDENT_TYPES, f"{self._q('model')} = @model", {"model": model},
                            ["rule", "subject"])
        return [Incident(**r) for r in rows]

    def save_incidents(self, incidents: Sequence[Incident]) -> None:
        """Upsert by (model, rule, subject); of two in one call for the same key, the later one wins."""
        latest = list({(i.model, i.rule, i.subject): i for i in incidents}.values())
        for batch in _chunks(latest):
            self._merge(INCIDENTS_TABLE, _INCIDENT_TYPES, _INCIDENT_KEYS, batch, update=True,
                        what="saving alert incidents")

    def add_deliveries(self, rows: Sequence[Delivery]) -> int:
        """Insert the rows whose key is absent (the first of a repeated key); returns how many were new."""
        first: dict[str, Delivery] = {}
        for row in rows:
            first.setdefault(row.key, row)
        fresh = list(first.values())
        return sum(self._merge(OUTBOX_TABLE, _DELIVERY_TYPES, ("key",), batch, update=False,
                               what="writing the alert outbox") for batch in _chunks(fresh))

    def pending_deliveries(self, model: str) -> list[Delivery]:
        """A model's pending outbox rows, oldest first."""
        return self._deliveries(model, "pending")

    def deliveries(self, model: str) -> list[Delivery]:
        """Every outbox row of a model, oldest first (for tests and the status page)."""
        return self._deliveries(model, None)

    def _deliveries(self, model: str, status: str | None) -> list[Delivery]:
        where = f"{self._q('model')} = @model"
        params: dict[str, Any] = {"model": model}
        if status is not None:
            where += f" AND {self._q('status')} = @status"
            params["status"] = status
        rows = self._select(OUTBOX_TABLE, _DELIVERY_TYPES, where, params, ["window_end", "position", "created_at"])
        return [Delivery(**r) for r in rows]

    def update_delivery(self, row: Delivery) -> None:
        row = replace(row, claimed_by="", claimed_until=None)  # marked: the claim ends with the attempt
        cols = ("status", "attempts", "next_attempt_at", "last_error", "delivered_at", "claimed_by", "claimed_until")
        sets = ", ".join(f"{self._q(c)} = @{c}" for c in cols)
        params: dict[str, Any] = {c: Typed(_DELIVERY_TYPES[c], getattr(row, c)) for c in cols}
        params["key"] = row.key
        self._store.execute(Query(f"UPDATE {self._store.table(OUTBOX_TABLE)} SET {sets} "
                                  f"WHERE {self._q('key')} = @key", params), "updating the alert outbox")

    def claim_delivery(self, key: str, owner: str, now: datetime, until: datetime) -> bool:
        """One UPDATE: BigQuery serializes concurrent UPDATEs of a table (or aborts the later one, which the
        store retries and which then matches nothing), so of two senders one claims the row."""
        q = self._q
        return bool(self._store.execute(Query(
            f"UPDATE {self._store.table(OUTBOX_TABLE)} SET {q('claimed_by')} = @owner, {q('claimed_until')} = @until "
            f"WHERE {q('key')} = @key AND {q('status')} = 'pending' AND ({q('claimed_until')} IS NULL "
            f"OR {q('claimed_until')} < @now OR {q('claimed_by')} = @owner)",
            {"owner": owner, "until": Typed("TIMESTAMP", until), "key": key, "now": Typed("TIMESTAMP", now)}),
            "claiming an alert outbox row"))

    def failed_deliveries(self, model: str) -> list[Delivery]:
        return self._deliveries(model, "failed")

    def requeue_failed(self, model: str, channel: str | None, now: datetime) -> int:
        q = self._q
        where = f"{q('model')} = @model AND {q('status')} = 'failed'"
        params: dict[str, Any] = {"model": model, "now": Typed("TIMESTAMP", now)}
        if channel:
            where += f" AND ({q('channel')} = @channel OR STARTS_WITH({q('channel')}, @prefix))"
            params.update(channel=channel, prefix=channel + ":")
        return self._store.execute(Query(
            f"UPDATE {self._store.table(OUTBOX_TABLE)} SET {q('status')} = 'pending', {q('attempts')} = 0, "
            f"{q('next_attempt_at')} = NULL, {q('created_at')} = @now, {q('claimed_by')} = '', "
            f"{q('claimed_until')} = NULL WHERE {where}", params), "re-queuing failed alerts")

    def prune_deliveries(self, before: datetime) -> int:
        q = self._q
        return self._store.execute(Query(
            f"DELETE FROM {self._store.table(OUTBOX_TABLE)} WHERE {q('status')} IN ('delivered', 'failed') "
            f"AND {q('created_at')} < @before", {"before": Typed("TIMESTAMP", before)}), "pruning the alert outbox")

    def silences(self, model: str) -> list[Silence]:
        """Every silence of a model, newest first."""
        rows = self._select(SILENCES_TABLE, _SILENCE_TYPES, f"{self._q('model')} = @model", {"model": model},
                            ["created_at", "id"])
        return [Silence(**r) for r in reversed(rows)]

    def save_silence(self, silence: Silence) -> None:
        """Upsert by id (expiring one rewrites its end)."""
        self._merge(SILENCES_TABLE, _SILENCE_TYPES, ("id",), [silence], update=True, what="saving a silence")

    def get_meta(self, key: str) -> str | None:
        rows = self._store.query(Query(
            f"SELECT {self._q('value')} FROM {self._store.table(META_TABLE)} WHERE {self._q('key')} = @k", {"k": key}))
        return rows[0]["value"] if rows else None

    def set_meta(self, key: str, value: str) -> None:
        k, v = self._q("key"), self._q("value")
        self._store.execute(Query(
            f"MERGE {self._store.table(META_TABLE)} AS T USING (SELECT @k AS {k}, @v AS {v}) AS S ON T.{k} = S.{k} "
            f"WHEN MATCHED THEN UPDATE SET {v} = S.{v} WHEN NOT MATCHED THEN INSERT ({k}, {v}) VALUES (S.{k}, S.{v})",
            {"k": key, "v": value}), "saving alert state")
