"""One validated config per monitored model (YAML), and the service Settings (environment).

Every invalid field fails at start-up with a ConfigError that names it. Secrets in YAML are
written as ``${ENV_VAR}`` and expanded from the environment here, the only reader of os.environ.
"""

from __future__ import annotations

import os
import re
from datetime import timedelta
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, SettingsConfigDict

from alerts.channels import ChannelsConfig
from alerts.rules import AlertsConfig
from monitor.errors import ConfigError

IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
_DURATION = re.compile(r"^(\d+)([smhd])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}
_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def parse_duration(text: str) -> timedelta:
    """Parse '24h', '30m', '7d' into a positive timedelta."""
    match = _DURATION.match(text.strip())
    if not match:
        raise ValueError(f"{text!r} is not a duration like '24h', '30m' or '7d'")
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"{text!r} must be positive")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def _identifier(value: str) -> str:
    if not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


Identifier = Annotated[str, Field(min_length=1)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class StoreConfig(_Strict):
    kind: Literal["duckdb", "bigquery"] = "duckdb"
    path: str = "driftline.duckdb"  # duckdb; relative to the config file's folder
    # DuckDB otherwise caches every block it reads: a cap keeps a 10M-row scan under 400 MB.
    memory_limit: str = Field(default="150MB", pattern=r"^\d+(\.\d+)?\s*(KB|MB|GB)$")
    project: str | None = None  # bigquery
    dataset: str | None = None
    location: str | None = None
    maximum_bytes_billed: int | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _bigquery_needs_dataset(self) -> StoreConfig:
        if self.kind == "bigquery" and not (self.project and self.dataset):
            raise ValueError("a bigquery store needs both 'project' and 'dataset'")
        if self.dataset is not None:
            _identifier(self.dataset)
        return self


class PredictionsConfig(_Strict):
    table: str = "predictions"
    timestamp: str = "ts"
    request_id: str = "request_id"
    model_column: str = "model_name"
    version_column: str = "model_version"

    _ids = field_validator("table", "timestamp", "request_id", "model_column", "version_column")(
        classmethod(lambda cls, v: _identifier(v))
    )


class FeatureConfig(_Strict):
    name: str
    kind: Literal["numerical", "categorical"]
    column: str | None = None  # defaults to name
    expr: str | None = None  # SQL expression over the log row, instead of a column
    statistic: str | None = None  # overrides the kind's default
    threshold: float | None = Field(default=None, ge=0)  # practical floor for the statistic
    spread_floor: float | None = Field(default=None, ge=0, lt=1)  # numerical: overrides drift.spread_floor
    spread: bool = True  # numerical: false switches the spread test off for this feature alone

    @field_validator("name")
    @classmethod
    def _name(cls, v: str) -> str:
        return _identifier(v)

    @field_validator("column")
    @classmethod
    def _column(cls, v: str | None) -> str | None:
        return None if v is None else _identifier(v)

    _stat = field_validator("statistic")(classmethod(lambda cls, v: _statistic(v)))
    _expr = field_validator("expr")(classmethod(lambda cls, v: _expression(v)))

    @model_validator(mode="after")
    def _one_source(self) -> FeatureConfig:
        if self.column and self.expr:
            raise ValueError("give either 'column' or 'expr', not both")
        return self


class PredictionConfig(_Strict):
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
                _identifier(v)
        return self


class LabelsConfig(_Strict):
    table: str = "labels"
    join_key: str = "request_id"
    column: str = "label"

    _ids = field_validator("table", "join_key", "column")(classmethod(lambda cls, v: _identifier(v)))


class ReferenceConfig(_Strict):
    table: str | None = None  # defaults to reference_<model>
    path: str | None = None  # Parquet or CSV loaded into the table on first use

    @field_validator("table")
    @classmethod
    def _table(cls, v: str | None) -> str | None:
        return None if v is None else _identifier(v)


class WindowConfig(_Strict):
    length: str = "24h"
    alignment: Literal["start_of_day", "length"] = "length"  # windows end on multiples of length
    min_rows: int = Field(default=200, ge=1)
    expected_rows: int | None = Field(default=None, ge=1)

    @field_validator("length")
    @classmethod
    def _length(cls, v: str) -> str:
        parse_duration(v)
        return v

    @property
    def duration(self) -> timedelta:
        return parse_duration(self.length)


def _statistic(name: str | None) -> str | None:
    from monitor.errors import UnknownStatistic
    from monitor.stats import get_statistic

    if name is not None:
        try:
            get_statistic(name)
        except UnknownStatistic as exc:
            raise ValueError(str(exc)) from None
    return name


def _expression(expr: str | None) -> str | None:
    from monitor.errors import UnsafeIdentifier
    from monitor.sql import validate_expression

    if expr is not None:
        try:
            validate_expression(expr)
        except UnsafeIdentifier as exc:
            raise ValueError(str(exc)) from None
    return expr


class KindDrift(_Strict):
    statistic: str
    threshold: float | None = Field(default=None, ge=0)  # practical floor; None: the statistic's default

    _stat = field_validator("statistic")(classmethod(lambda cls, v: _statistic(v)))


class DriftConfig(_Strict):
    numerical: KindDrift = Field(default_factory=lambda: KindDrift(statistic="wasserstein"))
    categorical: KindDrift = Field(default_factory=lambda: KindDrift(statistic="jensenshannon"))
    fdr: float = Field(default=0.01, gt=0, lt=0.5)  # Benjamini-Hochberg level across a run's tests
    drift_share: float = Field(default=0.5, gt=0, le=1)  # dataset drift when this share drifts
    multivariate: bool = True  # the domain classifier on the bounded samples (joint distribution)
    # Numerical columns: floor of the spread test (|log| of the dispersion ratio); null disables it.
    spread_floor: float | None = Field(default=0.025, ge=0, lt=1)
    bins: int = Field(default=20, ge=4, le=200)
    top_k: int = Field(default=20, ge=1, le=200)


class ReportConfig(_Strict):
    evidently: bool = True  # build Evidently's HTML report per run (the verdicts never depend on it)
    sample_rows: int = Field(default=20_000, ge=100, le=200_000)
    directory: str = "reports"  # relative to the config file's folder
    base_url: str = ""  # public URL of the service, for links in alerts


class ModelConfig(_Strict):
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
    report: ReportConfig = ReportConfig()
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
        return self

    @property
    def reference_table(self) -> str:
        return self.reference.table or "reference_" + self.model.replace("-", "_")

    def resolve(self, path: str) -> Path:
        p = Path(path)
        return p if p.is_absolute() else Path(self.base_dir) / p


def _expand_env(node: Any, env: dict[str, str]) -> Any:
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise ConfigError(f"environment variable {m.group(1)} is referenced but not set")
            return env[m.group(1)]
        return _ENV_REF.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand_env(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, env) for v in node]
    return node


def _format_errors(source: str, err: ValidationError) -> str:
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        loc = ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)


def load_model_config(path: str | Path, env: dict[str, str] | None = None) -> ModelConfig:
    """Load and validate one model's YAML config; ConfigError names every bad field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid config {path}: the top level must be a mapping")
    raw = _expand_env(raw, dict(os.environ) if env is None else env)
    raw.setdefault("base_dir", str(path.parent.resolve()))
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_format_errors(str(path), exc)) from None
    except ConfigError as exc:  # raised by a registry inside a validator
        raise ConfigError(f"invalid config {path}: {exc}") from None


def load_config_dir(directory: str | Path, env: dict[str, str] | None = None) -> dict[str, ModelConfig]:
    """Load every *.yaml in a folder: one monitored model each."""
    directory = Path(directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError(f"no model config (*.yaml) found in {directory}")
    configs: dict[str, ModelConfig] = {}
    for f in files:
        cfg = load_model_config(f, env)
        if cfg.model in configs:
            raise ConfigError(f"model {cfg.model!r} is configured twice ({f})")
        configs[cfg.model] = cfg
    return configs


class Settings(BaseSettings):
    """Service-level settings from DRIFTLINE_* environment variables."""

    model_config = SettingsConfigDict(env_prefix="DRIFTLINE_", extra="ignore")

    config_dir: str = "config"
    log_json: bool = False
    log_level: str = "INFO"
    public_url: str = ""  # the service URL: links in alerts, and the default OIDC audience
    project_id: str | None = None  # for Cloud Logging's trace field
    # Where Evidently reports are written, overriding each model's report.directory. On Cloud Run,
    # mount a Cloud Storage bucket (gcsfuse volume) here so reports outlive the instance.
    report_dir: str | None = None
    # Auth (monitor/auth.py): "google" (the default, so a forgotten setting fails closed),
    # "local-token" (a bearer token) or "local-open" (no auth: only on your own machine).
    auth_mode: str = "google"
    auth_audience: str = ""
    scheduler_service_account: str = ""
    reader_service_accounts: str = ""  # comma-separated
    iap_audience: str = ""
    auth_token: SecretStr | None = None
    oidc_certs_url: str = "https://www.googleapis.com/oauth2/v1/certs"
    iap_certs_url: str = "https://www.gstatic.com/iap/verify/public_key"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The service settings, read once (tests build their own Settings instead)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(_format_errors("environment (DRIFTLINE_*)", exc)) from None
