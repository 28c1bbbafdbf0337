"""Stores that keep every query they send (the real stores underneath): for tests and bench/."""

from __future__ import annotations

from typing import Any

from monitor.sql.queries import Query
from monitor.stores.bigquery.store import BigQueryStore
from monitor.stores.duckdb import DuckDBStore


class RecordingStore(BigQueryStore):
    """The BigQuery store, keeping the SQL and parameters of every query it sends, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Query] = []

    def _run(self, q: Query, what: str = "BigQuery query failed") -> Any:
        self.sent.append(q)
        return super()._run(q, what)


class RecordingDuckDB(DuckDBStore):
    """The DuckDB store, keeping every query it runs, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Query] = []

    def query(self, q: Query) -> list[dict[str, Any]]:
        self.sent.append(q)
        return super().query(q)
