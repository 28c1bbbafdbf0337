"""A BigQuery store that keeps every query it sends (the client is the real one): for tests and bench/."""

from __future__ import annotations

from typing import Any

from monitor.sql.queries import Query
from monitor.stores.bigquery.store import BigQueryStore


class RecordingStore(BigQueryStore):
    """The BigQuery store, keeping the SQL and parameters of every query it sends, in order."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.sent: list[Query] = []

    def _run(self, q: Query, what: str = "BigQuery query failed") -> Any:
        self.sent.append(q)
        return super()._run(q, what)
