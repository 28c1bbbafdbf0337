"""The store protocol: where the logs live, answering in SQL terms.

A store renders table names, runs a Query built by monitor.sql.queries (the one definition shared
by every store) and keeps Driftline's own state (runs, reference specs). Everything that
scans logs is SQL pushed down to the store; only bounded results come back.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

import pandas as pd

from monitor.schema.alerting import AlertState
from monitor.sql.queries import Dialect, Query, Source


@dataclass(frozen=True)
class RunRecord:
    """One persisted run: its summary JSON and where its report is."""

    run_id: str
    model: str
    window_start: datetime
    window_end: datetime
    created_at: datetime
    status: str
    summary_json: str
    bytes_processed: int = 0


class Store(Protocol):
    """A log store (DuckDB, BigQuery): runs Driftline's SQL, keeps runs and reference specs."""

    dialect: Dialect

    def init(self) -> None:
        """Create Driftline's own tables if missing; safe to run twice."""

    def table(self, name: str) -> str:
        """The rendered (quoted, qualified) reference to a table."""

    def exists(self, name: str) -> bool:
        """Whether a table exists."""

    def query(self, q: Query) -> list[dict[str, Any]]:
        """Run a query and return its (small) result as dicts."""

    def query_frame(self, q: Query) -> pd.DataFrame:
        """Run a query whose bounded result is wanted as a DataFrame (report samples)."""

    def insert_frame(self, table: str, frame: pd.DataFrame) -> int:
        """Append validated rows to a table (created from the frame if missing)."""

    def merge_staged(self, table: str, stage: str, key: str | None, *,
                     appends: Sequence[tuple[str, pd.DataFrame]] = (), state: Mapping[str, str] | None = None,
                     since_column: str | None = None) -> int:
        """Move a staging table's rows whose `key` is not stored yet (all, if None) into `table` atomically,
        with `appends` and `state`, then drop the stage; returns the rows added (an ingest's one commit)."""

    def drop_table(self, name: str) -> None:
        """Drop a (staging) table if it exists."""

    def upsert_labels(self, table: str, frame: pd.DataFrame, key: str) -> int:
        """Insert labels, replacing an earlier label of the same key (the last one wins)."""

    def save_run(self, record: RunRecord) -> bool:
        """Persist a run atomically; False if a run with that id already exists."""

    def get_run(self, run_id: str) -> RunRecord | None: ...

    def update_run_summary(self, run_id: str, summary_json: str) -> None:
        """Replace a stored run's summary (late labels refresh its performance)."""

    def list_runs(self, model: str | None = None, limit: int = 50, offset: int = 0) -> Sequence[RunRecord]:
        """Runs, newest window first."""

    def get_state(self, key: str) -> str | None:
        """A small JSON document of Driftline's state (reference specs)."""

    def put_state(self, key: str, value: str) -> None: ...

    def alert_state(self) -> AlertState:
        """Incident and outbox state kept beside the runs (monitor.schema.alerting)."""

    @property
    def bytes_processed(self) -> int:
        """Bytes scanned by the queries of this store object so far (0 where unknown)."""


@runtime_checkable
class BucketSignals(Protocol):
    """A store that can say, without scanning the window, what each time bucket holds now."""

    def bucket_signals(self, src: Source, bucket_us: int) -> dict[int, str] | None:
        """Bucket (whole buckets of `bucket_us` since the epoch) -> an opaque signature that changes when
        the bucket's rows change; None when the store cannot tell (the caller then counts rows)."""
        ...
