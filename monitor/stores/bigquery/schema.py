"""Table layouts and typed values of the BigQuery store: what `init` creates and how values are sent.

The tables Driftline creates (runs, state, a model's predictions and labels) are declared here as
(name, BigQuery type, mode) triples; values become typed query parameters, never SQL text.
google-cloud-bigquery is imported only by the BigQuery adapter modules (this one among them).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pandas as pd
from google.cloud import bigquery

from monitor.config.defaults import BIGQUERY_HOUR_PARTITION_EXPIRATION_DAYS, BIGQUERY_PARTITIONING, LABEL_TIME
from monitor.sql.queries import check_identifier

Field = tuple[str, str, str]  # column name, BigQuery type, mode (REQUIRED | NULLABLE)

RUNS_TABLE = "driftline_runs"
STATE_TABLE = "driftline_state"
JOB_LABELS = {"app": "driftline"}  # lets billing exports attribute the cost of runs

RUNS_SCHEMA: list[Field] = [
    ("run_id", "STRING", "REQUIRED"), ("model", "STRING", "REQUIRED"),
    ("window_start", "TIMESTAMP", "REQUIRED"), ("window_end", "TIMESTAMP", "REQUIRED"),
    ("created_at", "TIMESTAMP", "REQUIRED"), ("status", "STRING", "REQUIRED"),
    ("summary_json", "STRING", "REQUIRED"), ("bytes_processed", "INT64", "NULLABLE")]
STATE_SCHEMA: list[Field] = [("key", "STRING", "REQUIRED"), ("value", "STRING", "REQUIRED")]


@dataclass(frozen=True)
class PredictionsLayout:
    """What `init` needs to create a model's log tables: names, partition column and typed columns."""

    table: str = "predictions"
    timestamp: str = "ts"
    request_id: str = "request_id"
    model_column: str = "model_name"
    version_column: str | None = "model_version"
    columns: tuple[tuple[str, str], ...] = ()  # features, probability, class: (name, BigQuery type)
    labels_table: str | None = "labels"
    label_key: str = "request_id"
    label_column: str = "label"
    label_time: str = LABEL_TIME
    partitioning: str = BIGQUERY_PARTITIONING  # "hour" | "day": the predictions table's partitions, when init creates it
    expiration_days: int | None = BIGQUERY_HOUR_PARTITION_EXPIRATION_DAYS  # of hour partitions; None: kept forever

    @classmethod
    def from_model_config(cls, cfg: Any) -> PredictionsLayout:
        """The layout of a monitor.config.ModelConfig (feature expressions contribute their columns)."""
        cols: dict[str, str] = {}
        for f in cfg.features:
            kind = "FLOAT64" if f.kind == "numerical" else "STRING"
            for c in f.reads:
                cols.setdefault(check_identifier(c), kind)
        if cfg.prediction.probability:
            cols[cfg.prediction.probability] = "FLOAT64"
        if cfg.prediction.class_column:
            cols[cfg.prediction.class_column] = "INT64"
        p, lab, store = cfg.predictions, cfg.labels, cfg.store
        return cls(partitioning=store.partitioning, expiration_days=store.hour_partition_expiration_days,
                   table=p.table, timestamp=p.timestamp, request_id=p.request_id, model_column=p.model_column,
                   version_column=p.version_column, columns=tuple(cols.items()),
                   labels_table=lab.table if lab else None, label_key=lab.join_key if lab else "request_id",
                   label_column=lab.column if lab else "label",
                   label_time=(lab.timestamp if lab else None) or LABEL_TIME)

    def predictions_schema(self) -> list[Field]:
        """The predictions table's columns: request id, timestamp, model, version, then the logged ones."""
        fixed = [(self.request_id, "STRING", "REQUIRED"), (self.timestamp, "TIMESTAMP", "REQUIRED"),
                 (self.model_column, "STRING", "NULLABLE")]
        if self.version_column:
            fixed.append((self.version_column, "STRING", "NULLABLE"))
        names = {n for n, _, _ in fixed}
        return fixed + [(n, t, "NULLABLE") for n, t in self.columns if n not in names]

    def labels_schema(self) -> list[Field]:
        """The labels table's columns: the join key, the label and when it arrived."""
        return [(self.label_key, "STRING", "REQUIRED"), (self.label_column, "INT64", "NULLABLE"),
                (self.label_time, "TIMESTAMP", "NULLABLE")]


def schema_fields(fields: Sequence[Field]) -> list[bigquery.SchemaField]:
    """SchemaFields of checked column names."""
    return [bigquery.SchemaField(check_identifier(n), t, mode=m) for n, t, m in fields]


def predictions_table(ref: str, lay: PredictionsLayout, fields: Sequence[Field]) -> bigquery.Table:
    """The predictions table resource: hour (or day) partitions on the timestamp, clustered by model and version.

    Hour partitions let a run that adds one hour to a window read that hour only, and give each hour
    partition metadata (rows, last write) that says whether it changed without scanning it. BigQuery
    caps the partitions of a table, so hour partitions expire (`expiration_days`) unless told not to.
    """
    t = bigquery.Table(ref, schema=schema_fields(fields))
    hourly = lay.partitioning == "hour"
    expire = lay.expiration_days * 86_400_000 if hourly and lay.expiration_days else None
    t.time_partitioning = bigquery.TimePartitioning(
        type_=bigquery.TimePartitioningType.HOUR if hourly else bigquery.TimePartitioningType.DAY,
        field=lay.timestamp, expiration_ms=expire)
    # A query that forgets the window would scan every day of logs: BigQuery refuses it instead.
    t.require_partition_filter = True
    t.clustering_fields = [lay.model_column] + ([lay.version_column] if lay.version_column else [])
    return t


def labels_table(ref: str, lay: PredictionsLayout, fields: Sequence[Field] = ()) -> bigquery.Table:
    """The labels table resource: day partitions on when a label arrived, clustered by its join key.

    A label arrives after its prediction, so a window's join reads only the partitions from the
    window's start on: a run's bytes do not grow with how many days of labels are kept.
    """
    t = bigquery.Table(ref, schema=schema_fields(fields or lay.labels_schema()))
    t.time_partitioning = bigquery.TimePartitioning(type_=bigquery.TimePartitioningType.DAY, field=lay.label_time)
    t.clustering_fields = [lay.label_key]
    return t


@dataclass(frozen=True)
class Typed:
    """A query parameter value with its BigQuery type stated (a NULL has no type of its own)."""

    kind: str
    value: Any


_SCALAR_TYPES = ((bool, "BOOL"), (int, "INT64"), (float, "FLOAT64"), (datetime, "TIMESTAMP"), (date, "DATE"))


def query_parameter(name: str, value: Any) -> bigquery.ScalarQueryParameter | bigquery.ArrayQueryParameter:
    """A typed query parameter; naive datetimes are UTC (the log schema's TIMESTAMP)."""
    if isinstance(value, Typed):
        return bigquery.ScalarQueryParameter(name, value.kind, _scalar_value(value.value))
    if isinstance(value, (list, tuple)):
        kinds = {_scalar_type(v) for v in value if v is not None}
        kind = kinds.pop() if len(kinds) == 1 else "STRING"
        return bigquery.ArrayQueryParameter(name, kind, [_scalar_value(v) for v in value])
    return bigquery.ScalarQueryParameter(name, _scalar_type(value), _scalar_value(value))


def _scalar_type(value: Any) -> str:
    return next((name for kind, name in _SCALAR_TYPES if isinstance(value, kind)), "STRING")


def _scalar_value(value: Any) -> Any:
    if isinstance(value, datetime) and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


def naive_utc(value: Any) -> Any:
    """Timestamps come back as naive UTC, exactly as from the DuckDB store."""
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).replace(tzinfo=None)
    return value


def bq_type(col: pd.Series) -> str:
    """The BigQuery type of a new column, from its pandas dtype (anything else is STRING)."""
    t = pd.api.types
    checks = ((t.is_bool_dtype, "BOOL"), (t.is_integer_dtype, "INT64"), (t.is_float_dtype, "FLOAT64"),
              (t.is_datetime64_any_dtype, "TIMESTAMP"))
    return next((name for check, name in checks if check(col)), "STRING")
