"""The store protocol on BigQuery: the same queries as DuckDB (monitor.sql.queries), run where the logs are.

Every query is built by monitor.sql.queries with the BIGQUERY dialect: values travel as query parameters,
identifiers are checked before they reach SQL, windows filter on the partition column. Each query
runs under a maximum_bytes_billed guard and adds its bytes processed to `bytes_processed`.
google-cloud-bigquery is imported only in the BigQuery modules (this one, schema.py with the table
layouts, state.py with alerting's tables, leases.py); its errors become monitor.errors in errors.py.
"""

from __future__ import annotations

import logging
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

import pandas as pd
from google.cloud import bigquery

from monitor.config.common import PROJECT_ID, check_table
from monitor.errors import StoreError, StoreUnavailable, TableNotFound, UnsafeIdentifier
from monitor.sql.queries import BIGQUERY, Query, Source, check_identifier
from monitor.stores.base import RunRecord
from monitor.stores.bigquery.errors import translate as _translate
from monitor.stores.bigquery.partitions import bucket_signals, check_layout
from monitor.stores.bigquery.schema import (
    JOB_LABELS,
    RUNS_SCHEMA,
    RUNS_TABLE,
    STATE_SCHEMA,
    STATE_TABLE,
    Field,
    PredictionsLayout,
    bq_type,
    labels_table,
    naive_utc,
    predictions_table,
    query_parameter,
    schema_fields,
)

if TYPE_CHECKING:
    from monitor.stores.bigquery.state import BigQueryAlertState

__all__ = ["DEFAULT_MAX_BYTES_BILLED", "BigQueryStore", "PredictionsLayout", "predictions_table"]

log = logging.getLogger(__name__)
T = TypeVar("T")

DEFAULT_MAX_BYTES_BILLED = 100 * 2**30  # 100 GiB: far above a run's scan, far below a runaway one
class BigQueryStore:
    """Store protocol on one BigQuery dataset of Driftline's state; logs may live in other datasets.

    A table name is `table` (in the state dataset), `dataset.table` or `project.dataset.table`: the
    logs can stay where the serving app writes them, and a run only reads them.
    """

    dialect = BIGQUERY

    def __init__(self, client: bigquery.Client, dataset: str, *, project: str | None = None,
                 location: str | None = None, maximum_bytes_billed: int | None = DEFAULT_MAX_BYTES_BILLED,
                 layouts: Sequence[PredictionsLayout] = (), retries: int = 3, backoff: float = 1.0,
                 timeout: float = 300.0) -> None:
        self.project = project or client.project
        if not isinstance(self.project, str) or not PROJECT_ID.match(self.project):
            raise UnsafeIdentifier(f"refusing project id {self.project!r}: not a BigQuery project id")
        self.dataset = check_identifier(dataset)
        self.location = location
        self.maximum_bytes_billed = maximum_bytes_billed
        self.layouts = {lay.table: lay for lay in layouts}
        self._client = client
        self._retries, self._backoff, self._timeout = retries, backoff, timeout
        self._bytes = 0
        self._alert_state: BigQueryAlertState | None = None

    @classmethod
    def from_config(cls, store_cfg: Any, model_cfgs: Sequence[Any] = ()) -> BigQueryStore:
        """A store for a monitor.config.StoreConfig, with Application Default Credentials."""
        try:
            client = bigquery.Client(project=store_cfg.project, location=store_cfg.location)
        except Exception as exc:  # noqa: BLE001 - google.auth raises several unrelated types
            raise _translate(exc, f"connecting to BigQuery project {store_cfg.project}") from None
        return cls(client, store_cfg.dataset, project=store_cfg.project, location=store_cfg.location,
                   maximum_bytes_billed=store_cfg.maximum_bytes_billed or DEFAULT_MAX_BYTES_BILLED,
                   layouts=[PredictionsLayout.from_model_config(m) for m in model_cfgs])

    def close(self) -> None:
        self._client.close()

    # -- plumbing --------------------------------------------------------------------------------

    def _call(self, what: str, fn: Callable[[], T]) -> T:
        """Run one client call, translating its errors and retrying the transient ones."""
        for attempt in range(self._retries + 1):
            try:
                return fn()
            except Exception as exc:  # noqa: BLE001 - translated below, nothing escapes raw
                err = _translate(exc, what)
            if not isinstance(err, StoreUnavailable) or attempt == self._retries:
                raise err from None
            delay = self._backoff * 2**attempt
            log.warning("%s (attempt %d), retrying in %.1fs", err, attempt + 1, delay)
            time.sleep(delay)
        raise AssertionError("unreachable")

    @property
    def _no_retry(self) -> dict[str, Any]:
        # The client's own retry would spin for minutes on an outage; _call retries instead.
        return {"retry": None, "timeout": self._timeout}

    def _ref(self, name: str) -> str:
        parts = check_table(name).split(".")
        return ".".join([self.project, self.dataset][: 3 - len(parts)] + parts)

    def _ours(self, name: str) -> bool:
        """Whether a table lives in Driftline's own (writable) dataset."""
        return self._ref(name).rsplit(".", 1)[0] == f"{self.project}.{self.dataset}"

    def table(self, name: str) -> str:
        return f"`{self._ref(name)}`"

    def _job_config(self, params: Mapping[str, Any]) -> bigquery.QueryJobConfig:
        return bigquery.QueryJobConfig(
            query_parameters=[query_parameter(k, v) for k, v in params.items()], use_legacy_sql=False,
            maximum_bytes_billed=self.maximum_bytes_billed, labels=JOB_LABELS)

    def _run(self, q: Query, what: str = "BigQuery query failed") -> Any:
        def go() -> Any:
            # retry/job_retry off: _call owns retrying, so an outage fails fast and clearly.
            return self._client.query_and_wait(
                q.sql, job_config=self._job_config(q.params), location=self.location, project=self.project,
                api_timeout=self._timeout, wait_timeout=self._timeout,
                retry=None, job_retry=None)  # type: ignore[arg-type]  # None is documented: no retry

        rows = self._call(what, go)
        scanned = int(getattr(rows, "total_bytes_processed", None) or 0)
        self._bytes += scanned
        log.info("bigquery query processed %d bytes", scanned, extra={"bytes_processed": scanned})
        return rows

    def estimate(self, q: Query) -> int:
        """The bytes the query would process, from a dry-run job (BigQuery runs nothing, bills nothing)."""
        config = self._job_config(q.params)
        config.dry_run, config.use_query_cache = True, False
        job = self._call("estimating a query (dry run)", lambda: self._client.query(
            q.sql, job_config=config, location=self.location, project=self.project, retry=None,
            job_retry=None, timeout=self._timeout))  # type: ignore[arg-type]  # None is documented: no retry
        return int(job.total_bytes_processed or 0)

    # -- the Store protocol ----------------------------------------------------------------------

    @property
    def bytes_processed(self) -> int:
        return self._bytes

    def query(self, q: Query) -> list[dict[str, Any]]:
        rows = self._run(q)
        return [{k: naive_utc(v) for k, v in row.items()} for row in rows]

    def bucket_signals(self, src: Source, bucket_us: int) -> dict[int, str] | None:
        """Each hour's partition metadata as its change signal (monitor/stores/bigquery/partitions.py)."""
        return bucket_signals(self, src, bucket_us)

    def execute(self, q: Query, what: str = "BigQuery statement failed") -> int:
        """Run one DML statement (MERGE, UPDATE, DELETE); returns the rows it changed."""
        return int(getattr(self._run(q, what), "num_dml_affected_rows", None) or 0)

    def alert_state(self) -> BigQueryAlertState:
        """Incident and outbox state in this dataset (monitor.schema.alerting); its tables are created on first use."""
        from monitor.stores.bigquery.state import BigQueryAlertState

        if self._alert_state is None:
            state = BigQueryAlertState(self)
            state.init()
            self._alert_state = state  # kept only once its tables exist, so an outage is retried next run
        return self._alert_state

    def query_frame(self, q: Query) -> pd.DataFrame:
        rows = self._run(q)
        # The REST pages suffice for a bounded sample; the Storage API needs another IAM role.
        frame = self._call("reading query results", lambda: rows.to_dataframe(create_bqstorage_client=False))
        for col in frame.columns:
            if isinstance(frame[col].dtype, pd.DatetimeTZDtype):
                frame[col] = frame[col].dt.tz_convert("UTC").dt.tz_localize(None)
        return frame

    def exists(self, name: str) -> bool:
        try:
            self._call(f"looking up table {self._ref(name)}", lambda: self._client.get_table(self._ref(name), **self._no_retry))
        except TableNotFound:
            return False
        return True

    def columns(self, name: str) -> dict[str, str]:
        """Column name -> BigQuery type of a table ({} if it does not exist)."""
        try:
            t = self._call(f"looking up table {self._ref(name)}", lambda: self._client.get_table(self._ref(name), **self._no_retry))
        except TableNotFound:
            return {}
        return {f.name: f.field_type for f in t.schema}

    def init(self) -> None:
        """Create the dataset and Driftline's tables; every step tolerates existing ones."""
        ds = bigquery.Dataset(f"{self.project}.{self.dataset}")
        if self.location:  # left unset, BigQuery uses the project's default location
            ds.location = self.location
        ds.labels = dict(JOB_LABELS)
        self._call(f"creating dataset {self.project}.{self.dataset}",
                   lambda: self._client.create_dataset(ds, exists_ok=True, **self._no_retry))
        self.create_table(RUNS_TABLE, RUNS_SCHEMA, cluster=["model"])
        self.create_table(STATE_TABLE, STATE_SCHEMA)
        for lay in self.layouts.values():
            # Logs kept in another dataset are created only if missing: a run needs only read access there.
            if self._ours(lay.table) or not self.exists(lay.table):
                self._create_predictions(lay, lay.predictions_schema())
            check_layout(self, lay)  # an existing table keeps its partitions; a different layout is logged
            if lay.labels_table and (self._ours(lay.labels_table) or not self.exists(lay.labels_table)):
                self._create_table(labels_table(self._ref(lay.labels_table), lay))
        self.alert_state()  # alerting's incident, outbox and meta tables

    def create_table(self, name: str, fields: Sequence[Field], *, cluster: Sequence[str] = ()) -> None:
        """Create a table of the dataset with this schema unless it exists."""
        t = bigquery.Table(self._ref(name), schema=schema_fields(fields))
        if cluster:
            t.clustering_fields = list(cluster)
        self._create_table(t)

    def _create_table(self, t: bigquery.Table) -> None:
        self._call(f"creating table {t.table_id}", lambda: self._client.create_table(t, exists_ok=True, **self._no_retry))

    def _create_predictions(self, lay: PredictionsLayout, fields: Sequence[Field]) -> None:
        self._create_table(predictions_table(self._ref(lay.table), lay, fields))

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        """Append rows with a load job (atomic per call); the table is created from the frame if missing."""
        check_table(table)
        frame = frame.copy()
        for col in frame.columns:
            check_identifier(str(col))
            if pd.api.types.is_datetime64_any_dtype(frame[col]):
                s = frame[col]
                s = s.dt.tz_localize("UTC") if s.dt.tz is None else s.dt.tz_convert("UTC")
                frame[col] = s.dt.floor("us")  # BigQuery TIMESTAMP (like DuckDB's) holds microseconds
        if not self.exists(table):
            fields = [(str(c), bq_type(frame[c]), "NULLABLE") for c in frame.columns]
            lay = self.layouts.get(table)
            labels_of = next((x for x in self.layouts.values() if x.labels_table == table), None)
            if lay is not None and lay.timestamp in frame.columns:
                self._create_predictions(lay, fields)
            elif labels_of is not None and labels_of.label_time in frame.columns:
                self._create_table(labels_table(self._ref(table), labels_of, fields))
            else:
                self.create_table(table, fields)
        schema = self._widen(table, frame)
        for f in schema:
            if f.name not in frame.columns:
                frame[f.name] = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        # In the table's column order: the load maps columns by position on some backends.
        frame = frame[[f.name for f in schema]]
        config = bigquery.LoadJobConfig(write_disposition="WRITE_APPEND", schema=schema, labels=JOB_LABELS)
        self._call(f"loading rows into {self._ref(table)}", lambda: self._client.load_table_from_dataframe(
            frame, self._ref(table), job_config=config, location=self.location).result(timeout=self._timeout))
        return len(frame)

    def _widen(self, table: str, frame: pd.DataFrame) -> list[bigquery.SchemaField]:
        """The table's schema, with nullable columns added for any new column of the frame.

        A served model may log more than the config monitors; those columns are kept, not refused.
        """
        t = self._call("reading the table schema", lambda: self._client.get_table(self._ref(table), **self._no_retry))
        known = {f.name for f in t.schema}
        extra = [c for c in frame.columns if c not in known]
        if extra:
            adds = [f"ADD COLUMN IF NOT EXISTS {self.dialect.q(str(c))} {bq_type(frame[c])}" for c in extra]
            try:
                # One statement: BigQuery allows only a few metadata updates per table per 10 s.
                self._run(Query(f"ALTER TABLE {self.table(table)} {', '.join(adds)}"))
            except StoreError as exc:
                if isinstance(exc, StoreUnavailable) or len(adds) == 1:
                    raise
                # Engines that take one ALTER action per statement (the emulator's DuckDB).
                for add in adds:
                    self._run(Query(f"ALTER TABLE {self.table(table)} {add}"))
        # Built here rather than re-read: the emulator's catalog does not see columns added by DDL.
        return [*t.schema, *(bigquery.SchemaField(str(c), bq_type(frame[c]), mode="NULLABLE") for c in extra)]

    def upsert_labels(self, table: str, frame: pd.DataFrame, key: str) -> int:
        """Load labels into a staging table, then MERGE them in (the last label of a key wins)."""
        check_identifier(key)
        # The staging table lives in Driftline's own dataset, whichever dataset holds the labels.
        stage = f"_stage_{check_table(table).rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:12]}"
        if not self.exists(table):
            self.insert_frame(table, frame.iloc[0:0])
        self.insert_frame(stage, frame)
        try:
            cols = [self.dialect.q(str(c)) for c in frame.columns]
            sets = ", ".join(f"{c} = S.{c}" for c in cols if c != self.dialect.q(key))
            k = self.dialect.q(key)
            self._run(Query(f"MERGE {self.table(table)} AS T USING {self.table(stage)} AS S ON T.{k} = S.{k} "
                            f"WHEN MATCHED THEN UPDATE SET {sets} "
                            f"WHEN NOT MATCHED THEN INSERT ({', '.join(cols)}) VALUES ({', '.join('S.' + c for c in cols)})"))
        finally:
            self._call("dropping the staging table", lambda: self._client.delete_table(self._ref(stage), not_found_ok=True, **self._no_retry))
        return len(frame)

    def merge_staged(self, table: str, stage: str, key: str | None, *,
                     appends: Sequence[tuple[str, pd.DataFrame]] = (), state: Mapping[str, str] | None = None,
                     since_column: str | None = None) -> int:
        """One MERGE of the staged file's new-key rows (atomic), then the appends and state (a later commit)."""
        inserted = 0
        try:
            if self.exists(stage):
                staged = self.columns(stage)
                cols = [self.dialect.q(c) for c in staged]
                t, s = self.table(table), self.table(stage)
                if not self.exists(table):  # created as insert_frame would: partitioned by the model's layout
                    self._create_like(table, [(c, kind, "NULLABLE") for c, kind in staged.items()])
                if key is None:
                    sql = f"INSERT INTO {t} ({', '.join(cols)}) SELECT {', '.join(cols)} FROM {s}"
                else:
                    k = self.dialect.q(check_identifier(key))
                    # The partition filter a predictions table requires; true of every stored row.
                    since = f" AND T.{self.dialect.q(since_column)} >= TIMESTAMP '1678-01-01'" if since_column else ""
                    sql = (f"MERGE {t} AS T USING {s} AS S ON T.{k} = S.{k}{since} WHEN NOT MATCHED THEN "
                           f"INSERT ({', '.join(cols)}) VALUES ({', '.join('S.' + c for c in cols)})")
                inserted = self.execute(Query(sql), f"merging the staged rows into {self._ref(table)}")
            for name, frame in appends:
                self.insert_frame(name, frame)
            for k_, v in (state or {}).items():
                self.put_state(k_, v)
        finally:
            self.drop_table(stage)
        return inserted

    def _create_like(self, table: str, fields: list[Field]) -> None:
        lay = self.layouts.get(table)
        if lay is not None and lay.timestamp in {f[0] for f in fields}:
            self._create_predictions(lay, fields)
        else:
            self.create_table(table, fields)

    def drop_table(self, name: str) -> None:
        """Drop a (staging) table if it exists."""
        self._call("dropping a table", lambda: self._client.delete_table(self._ref(name), not_found_ok=True,
                                                                       **self._no_retry))

    def save_run(self, record: RunRecord) -> bool:
        """One MERGE statement: atomic, and a second run with the same id inserts nothing."""
        names = [n for n, _, _ in RUNS_SCHEMA]
        params = {n: getattr(record, n) for n in names}
        source = ", ".join(f"@{n} AS {n}" for n in names)
        return bool(self.execute(Query(
            f"MERGE {self.table(RUNS_TABLE)} AS T USING (SELECT {source}) AS S ON T.run_id = S.run_id "
            f"WHEN NOT MATCHED THEN INSERT ({', '.join(names)}) VALUES ({', '.join('S.' + n for n in names)})",
            params), "saving the run"))

    def update_run_summary(self, run_id: str, summary_json: str) -> None:
        """Replace a stored run's summary in one UPDATE (late labels refresh its performance)."""
        self.execute(Query(f"UPDATE {self.table(RUNS_TABLE)} SET summary_json = @s WHERE run_id = @id",
                           {"s": summary_json, "id": run_id}), f"updating the summary of run {run_id}")

    def get_run(self, run_id: str) -> RunRecord | None:
        rows = self.query(Query(f"SELECT * FROM {self.table(RUNS_TABLE)} WHERE run_id = @id", {"id": run_id}))
        return self._record(rows[0]) if rows else None

    def list_runs(self, model: str | None = None, limit: int = 50, offset: int = 0) -> Sequence[RunRecord]:
        sql = f"SELECT * FROM {self.table(RUNS_TABLE)}"
        params: dict[str, Any] = {"limit": int(limit), "offset": int(offset)}
        if model is not None:
            sql += " WHERE model = @model"
            params["model"] = model
        sql += " ORDER BY window_start DESC, model LIMIT @limit OFFSET @offset"
        return [self._record(r) for r in self.query(Query(sql, params))]

    @staticmethod
    def _record(row: Mapping[str, Any]) -> RunRecord:
        return RunRecord(**{**row, "bytes_processed": int(row.get("bytes_processed") or 0)})

    def _leases(self) -> Any:
        from monitor.stores.bigquery.leases import BigQueryLeases

        if getattr(self, "_lease_table", None) is None:
            self._lease_table = BigQueryLeases(self)
        return self._lease_table

    def take_lease(self, key: str, owner: str, now: datetime, expires_at: datetime, replace: str = "") -> bool:
        """Hold `key` unless someone else holds it past `now` (one MERGE, monitor/stores/bigquery/leases.py)."""
        return bool(self._leases().take(key, owner, now, expires_at, replace))

    def lease_owner(self, key: str) -> str | None:
        return self._leases().owner(key)  # type: ignore[no-any-return]

    def release_lease(self, key: str, owner: str) -> None:
        self._leases().release(key, owner)

    def get_state(self, key: str) -> str | None:
        rows = self.query(Query(f"SELECT value FROM {self.table(STATE_TABLE)} WHERE key = @k", {"k": key}))
        return rows[0]["value"] if rows else None

    def put_state(self, key: str, value: str) -> None:
        self._run(Query(
            f"MERGE {self.table(STATE_TABLE)} AS T USING (SELECT @k AS key, @v AS value) AS S ON T.key = S.key "
            "WHEN MATCHED THEN UPDATE SET value = S.value WHEN NOT MATCHED THEN INSERT (key, value) "
            "VALUES (S.key, S.value)", {"k": key, "v": value}))

