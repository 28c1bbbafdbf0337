"""Where logs, runs and state live: the Store protocol, DuckDB (embedded default) and BigQuery."""
