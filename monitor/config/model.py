"""One validated config per monitored model (YAML), and the service Settings (environment).

Every invalid field fails at start-up with a ConfigError that names it (monitor.config.loading reads the
YAML, expanding the ``${ENV_VAR}``s secrets are written as: the only reader of os.environ).
"""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Literal

from pydantic import (
    ConfigDict,
    Field,
    PrivateAttr,
    field_validator,
    model_validator,
)

from monitor.config import defaults
from monitor.config.alerts import AlertsConfig
from monitor.config.channels import ChannelsConfig
from monitor.config.common import (
    MODEL_NAME,
    Duration,
    Strict,
    identifier,
    parse_duration,
    table_name,
)
from monitor.config.defaults import (
    BINS,
    DRIFT_SHARE,
    FDR,
    MIN_ROWS,
    PROFILE_BUCKET,
    SPREAD_FLOOR,
    STATISTIC,
    TOP_K,
)
from monitor.config.expressions import parse_expression
from monitor.errors import UnsafeIdentifier


class StoreConfig(Strict):
    kind: Literal["duckdb", "bigquery"] = "duckdb"
    path: str = "driftline.duckdb"  # duckdb; relative to the config file's folder
    # Unset: what the widest model needs, within half the machine's or container's memory (defaults.py).
    memory_limit: str | None = Field(default=None, pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    temp_directory: str | None = None  # duckdb spill folder, relative to the config's folder; unset: <path>.spill
    project: str | None = None  # bigquery
    dataset: str | None = None
    location: str | None = None
    maximum_bytes_billed: int | None = Field(default=None, gt=0)
    # bigquery: the partitions of a predictions table `init` creates (an existing table is left as it is);
    # null expiration keeps hour partitions forever (then mind BigQuery's partitions-per-table limit).
    partitioning: Literal["hour", "day"] = defaults.BIGQUERY_PARTITIONING
    hour_partition_expiration_days: int | None = Field(default=defaults.BIGQUERY_HOUR_PARTITION_EXPIRATION_DAYS, gt=0)

    @model_validator(mode="after")
    def _bigquery_needs_dataset(self) -> StoreConfig:
        if self.kind == "bigquery" and not (self.project and self.dataset):
            raise ValueError("a bigquery store needs both 'project' and 'dataset'")
        if self.dataset is not None:
            identifier(self.dataset)
        return self


class PredictionsConfig(Strict):
    table: str = "predictions"  # or dataset.table / project.dataset.table (BigQuery: logs kept elsewhere)
    timestamp: str = "ts"
    request_id: str = "request_id"
    model_column: str = "model_name"
    version_column: str = "model_version"

    _table = field_validator("table")(classmethod(lambda cls, v: table_name(v)))
    _ids = field_validator("timestamp", "request_id", "model_column", "version_column")(
        classmethod(lambda cls, v: identifier(v))
    )
    # How ingest reads timestamps (monitor/pipeline/timestamps.py): None reads ISO 8601 and epoch
    # s/ms/us by magnitude; "iso", "epoch_s", "epoch_ms", "epoch_us", or a strftime pattern with '%'.
    timestamp_format: str | None = None

    @field_validator("timestamp_format")
    @classmethod
    def _timestamp_format(cls, v: str | None) -> str | None:
        known = ("iso", "epoch_s", "epoch_ms", "epoch_us")
        if v is not None and v not in known and "%" not in v:
            raise ValueError(f"{v!r}: use one of {list(known)} or a strftime pattern such as '%d/%m/%Y %H:%M'")
        return v


class FeatureConfig(Strict):
    name: str
    kind: Literal["numerical", "categorical"]
    column: str | None = None  # defaults to name
    expr: str | None = None  # SQL expression over the log row, instead of a column
    statistic: str | None = None  # overrides the kind's default
    threshold: float | None = Field(default=None, ge=0)  # practical floor for the statistic
    spread_floor: float | None = Field(default=None, ge=0, lt=1)  # numerical: overrides drift.spread_floor
    spread: bool = True  # numerical: false switches the spread test off for this feature alone
    # What kind of column this is, for its rate tests (monitor/drift/rates.py); None: inferred from the
    # reference (2 levels: binary; whole numbers >= 0: count; >= 10% exact zeros: zero_inflated).
    column_kind: Literal["continuous", "count", "zero_inflated", "zero_inflated_count", "binary",
                         "categorical"] | None = None
    rate_points: float | None = Field(default=None, gt=0, lt=1)  # overrides drift.rate_points for this feature
    rate_relative: float | None = Field(default=None, gt=0, lt=10)  # overrides drift.rate_relative
    mean_relative: float | None = Field(default=None, gt=0, lt=10)  # overrides drift.mean_relative
    zeros_points: float | None = Field(default=None, gt=0, lt=1)  # overrides drift.zeros_points

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return identifier(v)

    @field_validator("column")
    @classmethod
    def _column(cls, v: str | None) -> str | None:
        return None if v is None else identifier(v)

    _reads: tuple[str, ...] = PrivateAttr(default=())

    @field_validator("expr")
    @classmethod
    def _expr(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                parse_expression(v)
            except UnsafeIdentifier as exc:
                raise ValueError(str(exc)) from None
        return v

    @model_validator(mode="after")
    def _one_source(self) -> FeatureConfig:
        if self.column and self.expr:
            raise ValueError("give either 'column' or 'expr', not both")
        self._reads = parse_expression(self.expr) if self.expr else (self.column or self.name,)
        numerical_kinds = ("continuous", "count", "zero_inflated", "zero_inflated_count")
        if self.column_kind is not None and (self.column_kind in numerical_kinds) != (self.kind == "numerical"):
            raise ValueError(f"column_kind {self.column_kind!r} does not fit a {self.kind} feature")
        return self

    @property
    def reads(self) -> tuple[str, ...]:
        """The log columns this feature reads: its column, or those of its expression."""
        return self._reads


class PredictionConfig(Strict):
    probability: str | None = "probability"
    class_column: str | None = Field(default="predicted_class", alias="class")
    threshold: float = Field(default=0.5, gt=0, lt=1)
    positive_class: int = 1
    important_class: int = 0  # the class whose recall matters (defects)

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    @model_validator(mode="after")
    def _something(self) -> PredictionConfig:
        if not self.probability and not self.class_column:
            raise ValueError("give 'probability' and/or 'class'")
        for v in (self.probability, self.class_column):
            if v:
                identifier(v)
        return self


class LabelsConfig(Strict):
    table: str = "labels"  # or dataset.table / project.dataset.table
    join_key: str = "request_id"
    column: str = "label"
    # A window's performance is final once this long has passed since its end, labelled or not.
    delay: Duration | None = None
    # When a label arrived (never before its prediction): a window's join reads labels from its start on.
    # null, or a column the table lacks: the join reads the whole labels table.
    timestamp: str | None = defaults.LABEL_TIME

    _table = field_validator("table")(classmethod(lambda cls, v: table_name(v)))
    _ids = field_validator("join_key", "column")(classmethod(lambda cls, v: identifier(v)))

    @field_validator("timestamp")
    @classmethod
    def _timestamp(cls, v: str | None) -> str | None:
        return None if v is None else identifier(v)


class ReferenceConfig(Strict):
    table: str | None = None  # defaults to reference_<model>; or dataset.table / project.dataset.table
    path: str | None = None  # Parquet or CSV loaded into the table on first use

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        return None if v is None else table_name(v)


class WindowConfig(Strict):
    length: str = "24h"
    alignment: Literal["start_of_day", "length"] = "length"  # windows end on multiples of length
    min_rows: int = Field(default=MIN_ROWS, ge=1)
    expected_rows: int | None = Field(default=None, ge=1)
    grace: str = defaults.WINDOW_GRACE  # a window is run only this long after its end (late logs)
    lease_ttl: str = defaults.LEASE_TTL  # a killed run's (model, window) lease expires after this
    # Partial profiles per bucket, merged into the window (null: the whole window is scanned each run).
    bucket: str | None = PROFILE_BUCKET
    every: str | None = defaults.WINDOW_EVERY  # end to next end; null: the length; a 24h window every 1h slides

    @field_validator("length", "grace", "lease_ttl", "bucket", "every")
    @classmethod
    def _length(cls, v: str | None) -> str | None:
        if v is not None:
            parse_duration(v)
        return v

    @model_validator(mode="after")
    def _step(self) -> WindowConfig:
        if self.every is not None and not timedelta(0) < self.step_duration <= self.duration:
            raise ValueError(f"window.every ({self.every}) must be longer than 0 and at most window.length "
                             f"({self.length}): a step past the length would leave rows in no window")
        if self.every is not None and self.step_duration % timedelta(minutes=1):
            raise ValueError(f"window.every ({self.every}) must be whole minutes: run ids name a window's start "
                             "to the minute")
        if self.every is not None and self.alignment == "start_of_day" and self.step_duration > timedelta(days=1):
            raise ValueError(f"window.every ({self.every}) longer than a day needs window.alignment: length "
                             "(start_of_day windows end at a midnight every day)")
        return self

    @property
    def step_duration(self) -> timedelta:
        """From one window's end to the next one's: `every`, or the length."""
        return parse_duration(self.every) if self.every else self.duration

    @property
    def duration(self) -> timedelta:
        return parse_duration(self.length)

    @property
    def grace_duration(self) -> timedelta:
        return parse_duration(self.grace)

    @property
    def lease_duration(self) -> timedelta:
        return parse_duration(self.lease_ttl)

    @property
    def bucket_duration(self) -> timedelta | None:
        return parse_duration(self.bucket) if self.bucket else None


class KindDrift(Strict):
    statistic: str
    threshold: float | None = Field(default=None, ge=0)  # practical floor; None: the statistic's default


class DriftConfig(Strict):
    numerical: KindDrift = Field(default_factory=lambda: KindDrift(statistic=STATISTIC["numerical"]))
    categorical: KindDrift = Field(default_factory=lambda: KindDrift(statistic=STATISTIC["categorical"]))
    fdr: float = Field(default=FDR, gt=0, lt=0.5)  # Benjamini-Hochberg level across a run's tests
    drift_share: float = Field(default=DRIFT_SHARE, gt=0, le=1)  # dataset drift when this share drifts
    multivariate: bool = True  # the domain classifier on the bounded samples (joint distribution)
    # Numerical columns: floor of the spread test (|log| of the dispersion ratio); null disables it.
    spread_floor: float | None = Field(default=SPREAD_FLOOR, ge=0, lt=1)
    # Rate floors (defaults.RATE_POINTS ...): a share changed when it moved more than the smaller of
    # rate_points and rate_relative x min(p, 1 - p); a count's mean when it moved more than mean_relative.
    rate_points: float = Field(default=defaults.RATE_POINTS, gt=0, lt=1)
    rate_relative: float = Field(default=defaults.RATE_RELATIVE, gt=0, lt=10)
    mean_relative: float = Field(default=defaults.MEAN_RELATIVE, gt=0, lt=10)
    new_values_share: float = Field(default=defaults.NEW_VALUES_SHARE, gt=0, lt=1)
    zeros_points: float = Field(default=defaults.ZEROS_POINTS, gt=0, lt=1)  # a zero share's absolute floor
    floor_alpha: float = Field(default=defaults.FLOOR_ALPHA, gt=0, lt=1)  # rate tests: how sure beyond the floor
    bins: int = Field(default=BINS, ge=4, le=200)
    top_k: int = Field(default=TOP_K, ge=1, le=200)


class QualityConfig(Strict):
    alpha: float = Field(default=defaults.QUALITY_ALPHA, gt=0, lt=0.5)  # each data-quality rule's level


class ReportConfig(Strict):
    evidently: bool = True  # build Evidently's HTML report per run (the verdicts never depend on it)
    sample_rows: int = Field(default=20_000, ge=100, le=200_000)
    directory: str = "reports"  # relative to the config file's folder
    base_url: str = ""  # public URL of the service, for links in alerts


class PerformanceConfig(Strict):
    """How realized and estimated performance are judged (intervals, label coverage, drop tolerance)."""

    confidence: float = Field(default=defaults.CONFIDENCE, gt=0.5, lt=1)
    min_coverage: float = Field(default=defaults.MIN_COVERAGE, ge=0, le=1)  # below: "not yet known"
    min_labelled: int = Field(default=defaults.MIN_LABELLED, ge=1)
    complete_coverage: float = Field(default=defaults.COMPLETE_COVERAGE, gt=0, le=1)  # at or above: final
    tolerance: float = Field(default=defaults.TOLERANCE, ge=0, lt=1)  # the floor of metrics `floors` omits
    # Per metric: a drop must exceed this much (metric_important names the important class's metric).
    floors: dict[str, float] = Field(default_factory=lambda: dict(defaults.FLOORS))
    fdr: float = Field(default=defaults.FDR, gt=0, lt=0.5)  # Benjamini-Hochberg level over a window's metrics
    resamples: int = Field(default=defaults.RESAMPLES, ge=100, le=100_000)
    refresh_windows: int = Field(default=defaults.REFRESH_WINDOWS, ge=0, le=366)  # past windows re-checked

    @field_validator("floors")
    @classmethod
    def _floors(cls, v: dict[str, float]) -> dict[str, float]:
        bad = sorted(k for k, f in v.items() if not 0 <= f < 1)
        if bad:
            raise ValueError(f"floors {bad}: a floor is an absolute amount in [0, 1)")
        return {**defaults.FLOORS, **v}

    @model_validator(mode="after")
    def _coverage_order(self) -> PerformanceConfig:
        if self.min_coverage > self.complete_coverage:
            raise ValueError("min_coverage must be <= complete_coverage")
        return self


class ModelConfig(Strict):
    """Everything Driftline needs to know about one monitored model."""

    # A validation error must never echo a token or a phone number back.
    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    model: str
    store: StoreConfig = StoreConfig()
    predictions: PredictionsConfig = PredictionsConfig()
    features: list[FeatureConfig] = Field(min_length=1)
    prediction: PredictionConfig = PredictionConfig()
    labels: LabelsConfig | None = LabelsConfig()
    reference: ReferenceConfig = ReferenceConfig()
    window: WindowConfig = WindowConfig()
    drift: DriftConfig = DriftConfig()
    quality: QualityConfig = QualityConfig()
    report: ReportConfig = ReportConfig()
    performance: PerformanceConfig = PerformanceConfig()
    alerts: AlertsConfig = Field(default_factory=AlertsConfig)
    channels: ChannelsConfig = Field(default_factory=ChannelsConfig)
    base_dir: str = "."  # set by the loader: the folder of the config file

    @field_validator("model")
    @classmethod
    def _model(cls, v: str) -> str:
        if not MODEL_NAME.match(v):
            raise ValueError(f"{v!r}: use lower-case letters, digits, '-' and '_' (max 63)")
        return v

    @model_validator(mode="after")
    def _check(self) -> ModelConfig:
        names = [f.name for f in self.features]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"features: duplicate names {dupes}")
        qualified = [t for t in (self.predictions.table, self.labels and self.labels.table, self.reference.table)
                     if t and "." in t]
        if qualified and self.store.kind != "bigquery":
            raise ValueError(f"tables {qualified}: dataset-qualified names need store.kind: bigquery")
        return self

    @property
    def reference_table(self) -> str:
        return self.reference.table or "reference_" + self.model.replace("-", "_")

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p
