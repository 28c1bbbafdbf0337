"""The run summary: the one JSON shape of POST /run, `driftline run --json` and GET /runs.

Later issues may add keys, never rename these.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field


class Window(BaseModel):
    start: datetime
    end: datetime


class FeatureVerdict(BaseModel):
    """One compared column: a feature, the prediction or the label."""

    name: str
    kind: str
    statistic: str
    value: float | None
    threshold: float
    p_value: float | None = None
    drifted: bool
    status: str = "ok"  # ok | drift | insufficient_data
    extra: dict[str, Any] = Field(default_factory=dict)  # other statistics, for the page
    # The smallest change this window's size could flag at the run's budget, per test in its floor's units
    # (location: the statistic, std for wasserstein; spread/rate: relative; zeros/shares/new_values: share),
    # and the same in one sentence for the page (monitor/drift/detectable.py).
    min_detectable: dict[str, float] = Field(default_factory=dict)
    min_detectable_text: str | None = None


class FeatureQuality(BaseModel):
    null_rate: float
    out_of_range_rate: float
    unseen_categories: int = 0
    unseen_values: list[str] = Field(default_factory=list)
    infinite: int = 0


class AlertEntry(BaseModel):
    severity: str
    rule: str
    message: str


class RunSummary(BaseModel):
    run_id: str
    model: str
    window: Window
    rows: int
    rows_rejected: int
    expected_rows: int | None = None  # window.expected_rows of the config, for the volume rule
    features: list[FeatureVerdict]
    drift_share: float
    dataset_drift: bool
    prediction_drift: FeatureVerdict | None
    label_drift: FeatureVerdict | None
    data_quality: dict[str, FeatureQuality]
    alerts: list[AlertEntry] = Field(default_factory=list)
    report_url: str
    status: str = "ok"  # ok | insufficient_data
    performance: dict[str, Any] | None = None  # realized, once labels arrive (monitor.performance.realized)
    estimated_performance: dict[str, Any] | None = None  # CBPE from probabilities alone
    quality: dict[str, Any] | None = None  # data-quality verdicts and the schema check (monitor.quality)
    multivariate: dict[str, Any] | None = None  # the domain classifier: AUC, interval, verdict
    performance_history: list[dict[str, Any]] = Field(default_factory=list)  # earlier values as labels arrived
    model_version: str | None = None  # the window's most common version (the metrics' model_version label)
    model_versions: dict[str, float] = Field(default_factory=dict)  # every version seen -> its share of rows
    created_at: datetime | None = None
    extra: dict[str, Any] = Field(default_factory=dict)
