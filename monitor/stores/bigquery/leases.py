"""The (model, window) lease of a BigQuery store: one MERGE into a leases table of the state dataset.

The MERGE has a WHEN MATCHED clause (take over an expired lease, or a dead holder's), so BigQuery runs
it as mutating DML: two concurrent MERGEs on the table are serialized, or the later one aborts with
"concurrent update" and is retried by the store, and then finds the row held. (A MERGE with only
INSERT clauses counts as an INSERT, and concurrent INSERTs are not serialized: both could insert.)
Whether a caller holds the lease is read back from the row, so the answer does not depend on the
affected-row count either.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from monitor.sql.queries import Query
from monitor.stores.bigquery.schema import Field, Typed

if TYPE_CHECKING:
    from monitor.stores.bigquery.store import BigQueryStore

LEASES_TABLE = "driftline_leases"
LEASES_SCHEMA: list[Field] = [("key", "STRING", "REQUIRED"), ("owner", "STRING", "REQUIRED"),
                              ("expires_at", "TIMESTAMP", "REQUIRED")]


class BigQueryLeases:
    """take / owner / release of leases in one BigQuery store's dataset (the table is created on first use)."""

    def __init__(self, store: BigQueryStore) -> None:
        self._store = store
        self._ready = False

    def _table(self) -> str:
        if not self._ready:
            self._store.create_table(LEASES_TABLE, LEASES_SCHEMA)
            self._ready = True
        return self._store.table(LEASES_TABLE)

    def take(self, key: str, owner: str, now: datetime, expires_at: datetime, replace: str = "") -> bool:
        table = self._table()
        self._store.execute(Query(
            f"MERGE {table} AS T USING (SELECT @key AS key, @owner AS owner, @expires AS expires_at) AS S "
            "ON T.key = S.key "
            "WHEN MATCHED AND (T.expires_at < @now OR T.owner = @replace) THEN "
            "UPDATE SET owner = S.owner, expires_at = S.expires_at "
            "WHEN NOT MATCHED THEN INSERT (key, owner, expires_at) VALUES (S.key, S.owner, S.expires_at)",
            {"key": key, "owner": owner, "expires": Typed("TIMESTAMP", expires_at), "now": Typed("TIMESTAMP", now),
             "replace": replace or owner}), "taking the run's lease")
        return self.owner(key) == owner

    def owner(self, key: str) -> str | None:
        rows = self._store.query(Query(f"SELECT owner FROM {self._table()} WHERE key = @key", {"key": key}))
        return rows[0]["owner"] if rows else None

    def release(self, key: str, owner: str) -> None:
        self._store.execute(Query(f"DELETE FROM {self._table()} WHERE key = @key AND owner = @owner",
                                  {"key": key, "owner": owner}), "releasing the run's lease")
