"""What the profiler needs of a store: a dialect and a way to run a query (every Store has both)."""

from __future__ import annotations

from typing import Any, Protocol

import pandas as pd

from monitor.sql.queries import Dialect, Query


class QueryRunner(Protocol):
    """Runs this room's queries where the data lives; monitor.stores' stores meet it without importing it."""

    @property
    def dialect(self) -> Dialect: ...

    def query(self, q: Query) -> list[dict[str, Any]]: ...

    def query_frame(self, q: Query) -> pd.DataFrame: ...
