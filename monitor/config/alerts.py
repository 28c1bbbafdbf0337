"""The `alerts:` section of a model's config: rules with thresholds, persistence, cooldowns and channels.

What each rule says about a run lives in alerts/rules.py; this is only what the user can set.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict, Field, model_validator

from monitor.config.common import Duration
from monitor.config.defaults import OUTBOX_CLAIM_TTL, OUTBOX_MAX_AGE, OUTBOX_RETENTION

Level = Literal["warn", "critical"]
CHANNELS_WITHOUT_WARN = frozenset({"sms"})  # SMS pages carry critical alerts only
# The rules, in the order their findings are evaluated and listed.
RULE_NAMES = ("feature_drift", "dataset_drift", "prediction_drift", "label_drift", "null_rate",
              "out_of_range_rate", "rejected_rows", "volume", "performance", "estimated_performance")


class Judged(Protocol):
    """What a threshold lookup needs of a verdict (monitor.schema.summary.FeatureVerdict has it)."""

    name: str
    statistic: str
    kind: str


class Thresholds(BaseModel):
    """A warn and a critical threshold on one value; warn=None means 'when the verdict says drifted'."""

    model_config = ConfigDict(extra="forbid")
    warn: float | None = None
    critical: float | None = None
    direction: Literal["above", "below"] = "above"

    def breached(self, value: float | None, threshold: float | None) -> bool:
        if value is None or threshold is None:
            return False
        return value > threshold if self.direction == "above" else value < threshold

    def level(self, value: float | None, drifted: bool = False) -> Level | None:
        """The severity of one value against these thresholds."""
        if self.breached(value, self.critical):
            return "critical"
        if self.breached(value, self.warn) or (self.warn is None and drifted):
            return "warn"
        return None

    def shown(self, level: Level | None, fallback: float | None) -> float | None:
        """The threshold to print beside a value of this level."""
        if level == "critical" and self.critical is not None:
            return self.critical
        return self.warn if self.warn is not None else fallback


class SeverityChannels(BaseModel):
    """Which channels each severity goes to; channels that are not configured are skipped."""

    model_config = ConfigDict(extra="forbid")
    warn: list[str] = Field(default_factory=lambda: ["console", "slack", "webhook"])
    critical: list[str] = Field(default_factory=lambda: ["console", "slack", "sms", "pagerduty", "webhook"])
    resolved: list[str] = Field(default_factory=lambda: ["console", "slack", "pagerduty", "webhook"])

    @model_validator(mode="after")
    def _sms_critical_only(self) -> SeverityChannels:
        for severity in ("warn", "resolved"):
            bad = sorted(CHANNELS_WITHOUT_WARN.intersection(getattr(self, severity)))
            if bad:
                raise ValueError(f"channels.{severity}: {bad} carry critical alerts only")
        return self


class RuleBase(BaseModel):
    """What every rule has: persistence (N of the last M runs), a cooldown and its channels."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    for_runs: int = Field(default=1, ge=1, description="the breach must hold in this many ...")
    of_last: int = Field(default=1, ge=1, description="... of the last this many runs, this one included")
    cooldown: Duration = timedelta(hours=6)  # measured on window ends, so replays behave the same
    channels: SeverityChannels = Field(default_factory=SeverityChannels)

    @model_validator(mode="after")
    def _n_of_m(self) -> RuleBase:
        if self.for_runs > self.of_last:
            raise ValueError(f"for_runs ({self.for_runs}) must be <= of_last ({self.of_last})")
        return self


class FeatureDriftRule(RuleBase):
    """Per feature: thresholds on the statistic's value, looked up by feature, statistic, then kind."""

    default: Thresholds = Field(default_factory=Thresholds)
    statistics: dict[str, Thresholds] = Field(default_factory=dict)
    kinds: dict[str, Thresholds] = Field(default_factory=dict)
    features: dict[str, Thresholds] = Field(default_factory=dict)
    per_feature: bool = False  # one incident per feature instead of one for all features
    top: int = Field(default=5, ge=1)  # features listed in a message

    def thresholds_for(self, verdict: Judged) -> Thresholds:
        return (self.features.get(verdict.name) or self.statistics.get(verdict.statistic)
                or self.kinds.get(verdict.kind) or self.default)


class ShareRule(RuleBase):
    """Dataset drift share: warn when the run says dataset drift, critical above a share."""

    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warn=None, critical=0.5))


class VerdictRule(RuleBase):
    """Prediction or label drift: thresholds on the one verdict's value."""

    thresholds: Thresholds = Field(default_factory=Thresholds)


class RateRule(RuleBase):
    """A data-quality rate per feature (null rate, out-of-range rate)."""

    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.05, critical=0.2))
    features: dict[str, Thresholds] = Field(default_factory=dict)


class RejectedRule(RuleBase):
    """The share of rows rejected at ingestion."""

    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.01, critical=0.1))


class VolumeRule(RuleBase):
    """Window volume against window.expected_rows: thresholds on |rows / expected - 1| (off without it)."""

    thresholds: Thresholds = Field(default_factory=lambda: Thresholds(warn=0.5, critical=0.9))


# "_important" is the important class's metric (prediction.important_class): recall_1 for a churn model.
_DEFAULT_ON_DROP: dict[str, Level] = {"recall_important": "critical", "accuracy": "warn"}


class PerformanceRule(RuleBase):
    """Realized performance (summary.performance): a drop decided with both sampling errors, a floor per
    metric and label coverage, and optional absolute floors (e.g. recall_important: {warn: 0.5, direction: below})."""

    # A metric whose verdict is "drop" (worse than the reference beyond its floor) alerts at this level.
    on_drop: dict[str, Level] = Field(default_factory=lambda: dict(_DEFAULT_ON_DROP))
    metrics: dict[str, Thresholds] = Field(default_factory=dict)


class Route(BaseModel):
    """One node of the routing tree (Alertmanager's): matchers, the channels of what matches, child routes.

    A transition goes down the first matching route (its first matching child, and so on) and is sent
    to the deepest match's channels; `continue: true` lets the next sibling match too. Nothing
    matched: the rule's own `channels` per severity, as without routes.
    """

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    severity: Literal["warn", "critical", "resolved"] | None = None
    rule: str | None = None
    feature: str | None = None  # a feature (or a rule's subject); a dataset-wide drift matches its drifted features
    labels: dict[str, str] = Field(default_factory=dict)  # matched against alerts.labels, e.g. team: wheels
    channels: list[str] = Field(default_factory=list)
    continue_: bool = Field(default=False, alias="continue")
    routes: list[Route] = Field(default_factory=list)

    @model_validator(mode="after")
    def _known_rule(self) -> Route:
        if self.rule is not None and self.rule not in RULE_NAMES:
            raise ValueError(f"unknown rule {self.rule!r}; known rules: {sorted(RULE_NAMES)}")
        return self


class EstimatedPerformanceRule(RuleBase):
    """Estimated performance (summary.estimated_performance, CBPE before labels): a drop of the estimate,
    decided as the realized one is; quiet once the window's realized performance is final."""

    on_drop: dict[str, Level] = Field(default_factory=lambda: {"recall_important": "warn", "accuracy": "warn"})


class AlertsConfig(BaseModel):
    """The `alerts:` section of a model's config."""

    model_config = ConfigDict(extra="forbid")
    enabled: bool = True
    labels: dict[str, str] = Field(default_factory=dict)  # e.g. team: wheels, for routes to match
    routes: list[Route] = Field(default_factory=list)  # the routing tree; empty: each rule's channels
    feature_drift: FeatureDriftRule = Field(default_factory=FeatureDriftRule)
    dataset_drift: ShareRule = Field(default_factory=ShareRule)
    prediction_drift: VerdictRule = Field(default_factory=VerdictRule)
    label_drift: VerdictRule = Field(default_factory=VerdictRule)
    null_rate: RateRule = Field(default_factory=RateRule)
    out_of_range_rate: RateRule = Field(default_factory=RateRule)
    rejected_rows: RejectedRule = Field(default_factory=RejectedRule)
    volume: VolumeRule = Field(default_factory=VolumeRule)
    performance: PerformanceRule = Field(default_factory=PerformanceRule)
    estimated_performance: EstimatedPerformanceRule = Field(default_factory=EstimatedPerformanceRule)
    outbox: OutboxPolicy = Field(default_factory=lambda: OutboxPolicy())

    def rules(self) -> dict[str, RuleBase]:
        """The enabled rules by name."""
        return {n: getattr(self, n) for n in RULE_NAMES if getattr(self, n).enabled}


class OutboxPolicy(BaseModel):
    """How undelivered notifications are retried on later runs."""

    model_config = ConfigDict(extra="forbid")
    backoff_base: Duration = timedelta(minutes=1)
    backoff_max: Duration = timedelta(hours=1)
    # None: a retryable failure is retried until max_age (hourly runs through a 3-day outage need ~72 tries)
    max_attempts: int | None = Field(default=None, ge=1)
    max_age: Duration = OUTBOX_MAX_AGE  # counted from the row's creation (metrics: at most METRICS_MAX_AGE)
    claim_ttl: Duration = OUTBOX_CLAIM_TTL
    retention: Duration = OUTBOX_RETENTION  # delivered and failed rows are pruned after this


Route.model_rebuild()
AlertsConfig.model_rebuild()
