"""The embedded default store: one DuckDB file holding logs, reference, runs and state."""

from __future__ import annotations

import os
import threading
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import duckdb
import pandas as pd

from monitor.config.defaults import (
    DUCKDB_BASE_MEMORY_MB,
    DUCKDB_MEMORY_SHARE,
    DUCKDB_MIN_MEMORY_MB,
    DUCKDB_SCAN_MB_PER_COLUMN,
)
from monitor.errors import StoreError, StoreUnavailable, TableNotFound
from monitor.sql import partials
from monitor.sql.queries import DUCKDB, Query, Source, check_identifier
from monitor.stores.base import RunRecord
from monitor.stores.duckdb.state import DuckDBAlertState

_DDL = [
    """CREATE TABLE IF NOT EXISTS driftline_runs (
        run_id VARCHAR PRIMARY KEY, model VARCHAR NOT NULL, window_start TIMESTAMP NOT NULL,
        window_end TIMESTAMP NOT NULL, created_at TIMESTAMP NOT NULL, status VARCHAR NOT NULL,
        summary_json VARCHAR NOT NULL, bytes_processed BIGINT DEFAULT 0)""",
    "CREATE TABLE IF NOT EXISTS driftline_state (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL)",
    "CREATE TABLE IF NOT EXISTS driftline_leases (key VARCHAR PRIMARY KEY, owner VARCHAR NOT NULL, "
    "expires_at TIMESTAMP NOT NULL)",
    partials.COUNTS_DDL,
]


_EPOCH = datetime(1970, 1, 1)
_CGROUP_LIMITS = ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes")  # v2, v1


def machine_memory_bytes() -> int | None:
    """The memory this process may use: the container's cgroup limit if set, else the machine's."""
    for name in _CGROUP_LIMITS:
        try:
            text = Path(name).read_text().strip()
        except OSError:
            continue
        if text.isdigit() and int(text) < 2**60:  # "max" or a huge number: no limit
            limit = int(text)
            break
    else:
        limit = None
    try:
        physical = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError, AttributeError):
        return limit
    return min(limit, physical) if limit else physical


def default_memory_limit(columns: int = 0, threads: int = 1) -> str:
    """DuckDB's memory_limit ('1234MB') for scans of up to `columns` columns on `threads` threads: what a run
    needs (defaults.DUCKDB_BASE_MEMORY_MB, plus DUCKDB_SCAN_MB_PER_COLUMN a column a thread), at most
    DUCKDB_MEMORY_SHARE of machine_memory_bytes() and at least DUCKDB_MIN_MEMORY_MB (defaults.py says why)."""
    need = DUCKDB_BASE_MEMORY_MB + max(columns, 0) * max(threads, 1) * DUCKDB_SCAN_MB_PER_COLUMN
    total = machine_memory_bytes()
    ceiling = total * DUCKDB_MEMORY_SHARE / 2**20 if total else need
    return f"{int(max(DUCKDB_MIN_MEMORY_MB, min(need, ceiling)))}MB"


def _translate(exc: Exception, what: str) -> StoreError:
    if isinstance(exc, duckdb.OutOfMemoryException):
        return StoreError(f"{what}: {str(exc).splitlines()[0]}. DuckDB ran out of its memory limit (what "
                          "cannot spill to store.temp_directory): set store.memory_limit higher, e.g. 1GB.")
    if isinstance(exc, duckdb.CatalogException) and "Table" in str(exc):
        return TableNotFound(f"{what}: {exc}. Check the table names in the config, or run `driftline ingest`.")
    if isinstance(exc, duckdb.IOException):
        return StoreUnavailable(f"{what}: cannot open the DuckDB file ({exc}); is another process writing it?")
    return StoreError(f"{what}: {exc}")


class DuckDBStore:
    """Store protocol on a DuckDB file (or ':memory:')."""

    dialect = DUCKDB

    def __init__(self, path: str | Path, *, read_only: bool = False, memory_limit: str | None = None,
                 temp_directory: str | Path | None = None, scan_columns: int | None = None) -> None:
        """memory_limit None: DuckDB's own default, or with `scan_columns` (the widest model's columns)
        default_memory_limit() for them on this connection's threads."""
        self.path = str(path)
        try:
            self._con = duckdb.connect(self.path, read_only=read_only)
            if not memory_limit and scan_columns is not None:
                row = self._con.execute("SELECT current_setting('threads')").fetchone()
                memory_limit = default_memory_limit(scan_columns, int(row[0]) if row else 1)
            self.memory_limit = memory_limit
            if memory_limit:
                self._con.execute(f"SET memory_limit = '{memory_limit}'")  # validated by StoreConfig
            if temp_directory:
                # Where a wide window's aggregates spill when they outgrow memory_limit (instead of Out of Memory).
                Path(temp_directory).mkdir(parents=True, exist_ok=True)
                self._con.execute("SET temp_directory = $d", {"d": str(temp_directory)})
            # DuckDB 2.0 narrows a sum's type from the statistics of an empty filtered table, so a window
            # joined to its (still empty) recent labels failed with "INT128 ... can't be cast ... INT8".
            self._con.execute("SET disabled_optimizers = 'compressed_materialization'")
        except duckdb.Error as exc:
            raise _translate(exc, f"opening {self.path}") from None
        # A cursor per thread (DuckDB's rule for one connection shared by threads), each its own MVCC
        # session: a read (/report, /runs, /metrics) sees the last commit and never waits for a run.
        self._cursors = threading.local()
        self._cursor_lock = threading.Lock()  # creating a cursor touches the shared connection
        self._opened: list[duckdb.DuckDBPyConnection] = []  # closed with the store, releasing the file
        self._lock = threading.RLock()  # held by a whole run (the `lock` property), never by a read
        self._state_lock = threading.Lock()  # the alert state's first creation
        # Two ingests' merges, each adding to the same kept bucket counts, would conflict (DuckDB's MVCC
        # refuses a second writer of one row): they take turns instead.
        self._merge_lock = threading.Lock()
        if not read_only:
            self.init()

    def _cursor(self) -> duckdb.DuckDBPyConnection:
        cur = getattr(self._cursors, "cur", None)
        if cur is None:
            with self._cursor_lock:
                cur = self._con.cursor()
                self._opened.append(cur)
            self._cursors.cur = cur
        return cur

    def alert_state(self) -> DuckDBAlertState:
        """Incident and outbox state in the same DuckDB file (monitor.schema.alerting)."""
        if not hasattr(self, "_alert_state"):
            # concurrent first calls (POST /run threads) must not both run its DDL; its own lock, not the
            # run's: a page reading incidents must not wait for a running run
            with self._state_lock:
                if not hasattr(self, "_alert_state"):
                    self._alert_state = DuckDBAlertState(self._con)
        return self._alert_state

    @property
    def lock(self) -> threading.RLock:
        """Held for a whole run, so two runs of one embedded store never interleave; reads do not take it."""
        return self._lock

    def close(self) -> None:
        with self._cursor_lock:
            for cur in self._opened:
                cur.close()
            self._opened.clear()
        self._cursors = threading.local()
        self._con.close()

    def init(self) -> None:
        for ddl in _DDL:
            self._cursor().execute(ddl)

    def table(self, name: str) -> str:
        return self.dialect.q(name)

    def exists(self, name: str) -> bool:
        check_identifier(name)
        rows = self.query(Query("SELECT count(*) AS n FROM information_schema.tables WHERE table_name = $t", {"t": name}))
        return bool(rows[0]["n"])

    def columns(self, name: str) -> dict[str, str]:
        """Column name -> type of a table ({} if it does not exist)."""
        check_identifier(name)
        rows = self.query(Query(
            "SELECT column_name AS c, data_type AS t FROM information_schema.columns WHERE table_name = $t "
            "ORDER BY ordinal_position", {"t": name}))
        return {r["c"]: r["t"] for r in rows}

    def _execute(self, q: Query) -> duckdb.DuckDBPyConnection:
        cur = self._cursor()
        try:
            return cur.execute(q.sql, q.params or None)
        except duckdb.Error as exc:
            raise _translate(exc, "query failed") from None

    def query(self, q: Query) -> list[dict[str, Any]]:
        cur = self._execute(q)
        names = [c[0] for c in cur.description or []]
        return [dict(zip(names, row)) for row in cur.fetchall()]

    def query_frame(self, q: Query) -> pd.DataFrame:
        return self._execute(q).df()

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        check_identifier(table)
        for col in frame.columns:
            check_identifier(str(col))
        cur = self._cursor()
        try:
            cur.register("_incoming", frame)
            if self.exists(table):
                cols = ", ".join(self.dialect.q(str(c)) for c in frame.columns)
                cur.execute(f"INSERT INTO {self.table(table)} ({cols}) SELECT {cols} FROM _incoming")
            else:
                cur.execute(f"CREATE TABLE {self.table(table)} AS SELECT * FROM _incoming")
            cur.unregister("_incoming")
        except duckdb.Error as exc:
            raise _translate(exc, f"inserting into {table}") from None
        return len(frame)

    def upsert_labels(self, table: str, frame: pd.DataFrame, key: str) -> int:
        """Insert labels, replacing any earlier label of the same key (the last one wins)."""
        check_identifier(table)
        check_identifier(key)
        if not self.exists(table):
            return self.insert_frame(table, frame)
        cur = self._cursor()
        cols = ", ".join(self.dialect.q(str(c)) for c in frame.columns)
        cur.register("_incoming", frame)
        try:
            cur.execute("BEGIN TRANSACTION")  # replace and insert together, or neither
            cur.execute(f"DELETE FROM {self.table(table)} WHERE {self.dialect.q(key)} IN "
                        f"(SELECT {self.dialect.q(key)} FROM _incoming)")
            cur.execute(f"INSERT INTO {self.table(table)} ({cols}) SELECT {cols} FROM _incoming")
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            cur.execute("ROLLBACK")
            raise _translate(exc, f"upserting labels into {table}") from None
        finally:
            cur.unregister("_incoming")
        return len(frame)

    def merge_staged(self, table: str, stage: str, key: str | None, *,
                     appends: Sequence[tuple[str, pd.DataFrame]] = (), state: Mapping[str, str] | None = None,
                     since_column: str | None = None) -> int:
        """Move a staged file into `table` in one transaction: rows whose `key` is new (every row when key is
        None), the `appends` (rejects) and the `state` keys commit together or not at all; returns rows added."""
        for name in (table, stage, *(k for k in [key] if k)):
            check_identifier(name)
        with self._merge_lock:
            return self._merge(table, stage, key, appends, state, since_column)

    def _merge(self, table: str, stage: str, key: str | None, appends: Sequence[tuple[str, pd.DataFrame]],
               state: Mapping[str, str] | None, since_column: str | None) -> int:
        cur = self._cursor()
        inserted = 0
        try:
            cur.execute("BEGIN TRANSACTION")
            if self.exists(stage):
                cols = ", ".join(self.dialect.q(c) for c in self.columns(stage))
                t, s = self.table(table), self.table(stage)
                if not self.exists(table):
                    cur.execute(f"CREATE TABLE {t} AS SELECT * FROM {s} WHERE false")
                where = "" if key is None else (
                    f" WHERE NOT EXISTS (SELECT 1 FROM {t} AS x WHERE x.{self.dialect.q(key)} = S.{self.dialect.q(key)})")
                if since_column is not None:  # the logs: per-minute counts kept in this same transaction
                    check_identifier(since_column)
                    self._keep_counts(t, s, since_column, where.replace(" NOT EXISTS ", " EXISTS ", 1))
                    where = ""  # the stage now holds only the new rows
                cur.execute(f"INSERT INTO {t} ({cols}) SELECT {cols} FROM {s} AS S{where}")
                inserted = int((cur.fetchone() or [0])[0])
            for name, frame in appends:
                self.insert_frame(name, frame)  # the same cursor: inside this transaction
            for k, v in (state or {}).items():
                cur.execute("INSERT OR REPLACE INTO driftline_state VALUES ($k, $v)", {"k": k, "v": v})
            cur.execute("COMMIT")
        except (duckdb.Error, StoreError) as exc:
            cur.execute("ROLLBACK")
            raise exc if isinstance(exc, StoreError) else _translate(exc, f"loading into {table}") from None
        finally:
            self.drop_table(stage)
        return inserted

    def _keep_counts(self, t: str, s: str, ts: str, stored: str) -> None:
        """Inside merge_staged's transaction: drop the staged rows already stored, re-count the table first if
        anyone else wrote to it since (the kept counts no longer add up), add the new rows' counts."""
        cur = self._cursor()
        if stored:  # " WHERE EXISTS (the same key in the table)"
            cur.execute(f"DELETE FROM {s} AS S{stored}")
        key = partials.counts_key(t, ts)
        ok = self._execute(partials.in_sync_query(key, t)).fetchone()
        if not (ok and ok[0]):
            for q in partials.reseed_counts_sql(key, t, ts):
                self._execute(q)
        self._execute(partials.add_counts_sql(key, s, ts))

    def bucket_signals(self, src: Source, bucket_us: int) -> dict[int, str] | None:
        """Each bucket's row count over every model of the table (monitor.sql.partials): the ingest's kept
        counts while they add up to the table's rows; past another writer's rows (a user's own INSERT), the
        same counts taken from the table's timestamps, so the signatures stay comparable. A superset of
        the model's rows: a bucket whose signature is unchanged has unchanged rows (the logs only grow).
        None when the window is not whole minutes."""
        if src.start is None or src.end is None or src.timestamp is None or bucket_us % partials.GRAIN_US:
            return None
        lo, hi = ((x - _EPOCH) // timedelta(microseconds=1) for x in (src.start, src.end))
        if lo % partials.GRAIN_US or hi % partials.GRAIN_US:
            return None
        rows = self.query(partials.bucket_signals_query(partials.counts_key(src.table, src.timestamp), src.table,
                                                        lo // partials.GRAIN_US,
                                                        hi // partials.GRAIN_US, bucket_us // partials.GRAIN_US))
        if not rows or rows[0]["b"] is not None or rows[0]["n"] != 1:
            table_wide = Source(table=src.table, timestamp=src.timestamp, start=src.start, end=src.end)
            rows = [{"b": None}, *self.query(partials.bucket_counts_query(self.dialect, table_wide, bucket_us))]
        return {int(r["b"]): f"t{r['n']}" for r in rows[1:]}

    def drop_table(self, name: str) -> None:
        """Drop a (staging) table if it exists."""
        check_identifier(name)
        try:
            self._cursor().execute(f"DROP TABLE IF EXISTS {self.table(name)}")
        except duckdb.Error as exc:
            raise _translate(exc, f"dropping {name}") from None

    def save_run(self, record: RunRecord) -> bool:
        cur = self._cursor()
        try:
            cur.execute("BEGIN TRANSACTION")
            cur.execute(
                "INSERT INTO driftline_runs VALUES ($1, $2, $3, $4, $5, $6, $7, $8) ON CONFLICT DO NOTHING",
                [record.run_id, record.model, record.window_start, record.window_end, record.created_at,
                 record.status, record.summary_json, record.bytes_processed])
            inserted = cur.fetchone()
            cur.execute("COMMIT")
        except duckdb.Error as exc:
            cur.execute("ROLLBACK")
            raise _translate(exc, "saving the run") from None
        return bool(inserted and inserted[0])

    def update_run_summary(self, run_id: str, summary_json: str) -> None:
        self.query(Query("UPDATE driftline_runs SET summary_json = $s WHERE run_id = $id",
                         {"s": summary_json, "id": run_id}))

    def _records(self, rows: list[dict[str, Any]]) -> list[RunRecord]:
        return [RunRecord(**r) for r in rows]

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self.query(Query("SELECT * FROM driftline_runs WHERE run_id = $id", {"id": run_id}))
        return self._records(rows)[0] if rows else None

    def list_runs(self, model: str | None = None, limit: int = 50, offset: int = 0) -> Sequence[RunRecord]:
        sql = "SELECT * FROM driftline_runs"
        params: dict[str, Any] = {"limit": limit, "offset": offset}
        if model is not None:
            sql += " WHERE model = $model"
            params["model"] = model
        sql += " ORDER BY window_start DESC, model LIMIT $limit OFFSET $offset"
        return self._records(self.query(Query(sql, params)))

    def get_state(self, key: str) -> str | None:
        rows = self.query(Query("SELECT value FROM driftline_state WHERE key = $k", {"k": key}))
        return rows[0]["value"] if rows else None

    def put_state(self, key: str, value: str) -> None:
        self.query(Query("INSERT OR REPLACE INTO driftline_state VALUES ($k, $v)", {"k": key, "v": value}))

    @property
    def bytes_processed(self) -> int:
        return 0

    # -- the (model, window) lease: one transaction, so one caller holds it ------------------------

    def take_lease(self, key: str, owner: str, now: datetime, expires_at: datetime, replace: str = "") -> bool:
        """Hold `key` until `expires_at` unless someone else holds it (and their lease runs past `now`,
        and is not `replace`'s, a holder known to be dead); whether `owner` holds it now."""
        with self._lock:
            cur = self._con.cursor()
            try:
                cur.execute("BEGIN TRANSACTION")
                cur.execute("INSERT INTO driftline_leases VALUES ($1, $2, $3) ON CONFLICT (key) DO UPDATE "
                            "SET owner = excluded.owner, expires_at = excluded.expires_at "
                            "WHERE driftline_leases.expires_at < $4 OR driftline_leases.owner = $5",
                            [key, owner, expires_at, now, replace or owner])
                cur.execute("SELECT owner FROM driftline_leases WHERE key = $1", [key])
                held = cur.fetchone()
                cur.execute("COMMIT")
            except duckdb.Error as exc:
                cur.execute("ROLLBACK")
                raise _translate(exc, "taking the run's lease") from None
        return bool(held and held[0] == owner)

    def lease_owner(self, key: str) -> str | None:
        rows = self.query(Query("SELECT owner FROM driftline_leases WHERE key = $k", {"k": key}))
        return rows[0]["owner"] if rows else None

    def release_lease(self, key: str, owner: str) -> None:
        self.query(Query("DELETE FROM driftline_leases WHERE key = $k AND owner = $o", {"k": key, "o": owner}))
