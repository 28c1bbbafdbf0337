"""The embedded default store on DuckDB: logs, reference, runs and state (store.py), alert state (state.py)."""

from monitor.stores.duckdb.state import DuckDBAlertState
from monitor.stores.duckdb.store import DuckDBStore, default_memory_limit, machine_memory_bytes

__all__ = ["DuckDBAlertState", "DuckDBStore", "default_memory_limit", "machine_memory_bytes"]
