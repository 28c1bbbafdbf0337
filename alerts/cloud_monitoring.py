"""Custom Cloud Monitoring metrics with google-cloud-monitoring: descriptors once, points in batches.

Metric types are custom.googleapis.com/driftline/<name> (names in alerts/metrics.py),
on the `global` resource, labelled with model and model_version. UNAVAILABLE and
DEADLINE_EXCEEDED are retried inside the call (google.api_core Retry), then left to the
outbox; INVALID_ARGUMENT and other refusals are given up on.

Example alert policy (gcloud alpha monitoring policies create --policy-from-file=...):

    displayName: "Driftline: dataset drift on wheel-assembly"
    combiner: OR
    conditions:
      - displayName: "drift share above 0.5"
        conditionThreshold:
          filter: >-
            metric.type="custom.googleapis.com/driftline/drift_share"
            AND resource.type="global" AND metric.labels.model="wheel-assembly"
          comparison: COMPARISON_GT
          thresholdValue: 0.5
          duration: 0s
          aggregations: [{alignmentPeriod: 3600s, perSeriesAligner: ALIGN_MAX}]
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime

import grpc
from google.api import label_pb2, metric_pb2
from google.api_core import exceptions as gexc
from google.api_core import retry as gretry
from google.cloud import monitoring_v3
from google.cloud.monitoring_v3.services.metric_service.transports import MetricServiceGrpcTransport

from alerts.base import MetricPoint
from alerts.metrics import BASE_LABELS, METRICS
from monitor.errors import NotifierRejected, NotifierRetryable
from monitor.schema.alerting import AlertState

PREFIX = "custom.googleapis.com/driftline/"
MAX_SERIES_PER_CALL = 200  # the CreateTimeSeries limit
_TRANSIENT = (gexc.ServiceUnavailable, gexc.DeadlineExceeded, gexc.InternalServerError, gexc.TooManyRequests)


def metric_type(name: str) -> str:
    """The Cloud Monitoring type of a Driftline metric name."""
    return PREFIX + name


def descriptor_for(name: str) -> metric_pb2.MetricDescriptor:
    """The GAUGE descriptor of one Driftline metric with its labels."""
    spec = METRICS[name]
    return metric_pb2.MetricDescriptor(
        type=metric_type(name),
        metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
        value_type=getattr(metric_pb2.MetricDescriptor.ValueType, spec.value_type),
        description=spec.description,
        display_name=f"Driftline {name.replace('_', ' ')}",
        labels=[
            label_pb2.LabelDescriptor(key=k, value_type=label_pb2.LabelDescriptor.ValueType.STRING)
            for k in BASE_LABELS + spec.labels
        ],
    )


class CloudMonitoringSink:
    """Writes a run's metric points to Cloud Monitoring (at most 200 series per call)."""

    name = "cloud_monitoring"

    def __init__(
        self,
        project: str,
        *,
        client: monitoring_v3.MetricServiceClient | None = None,
        endpoint: str | None = None,
        state: AlertState | None = None,
        timeout: float = 20.0,
        retry_initial: float = 1.0,
        retry_deadline: float = 30.0,
    ) -> None:
        if client is None and endpoint:
            # an emulator or a test fake: plain gRPC, no credentials
            transport = MetricServiceGrpcTransport(channel=grpc.insecure_channel(endpoint))
            client = monitoring_v3.MetricServiceClient(transport=transport)
        self._client = client or monitoring_v3.MetricServiceClient()
        self._project = project
        self._state = state
        self._created: set[str] = set()
        self._timeout = timeout
        self._retry = gretry.Retry(
            predicate=gretry.if_exception_type(*_TRANSIENT),
            initial=retry_initial, maximum=retry_initial * 8, multiplier=2.0, timeout=retry_deadline,
        )

    @property
    def _meta_key(self) -> str:
        return f"cloud_monitoring.descriptors.{self._project}"

    def ensure_descriptors(self) -> None:
        """Creates each metric descriptor once (remembered in the alert state when there is one)."""
        if not self._created and self._state is not None:
            self._created = set(json.loads(self._state.get_meta(self._meta_key) or "[]"))
        wanted = {n: descriptor_for(n) for n in METRICS}
        fingerprint = {n: f"{d.value_type}:{','.join(l.key for l in d.labels)}" for n, d in wanted.items()}
        missing = [n for n in METRICS if f"{n}|{fingerprint[n]}" not in self._created]
        for name in missing:
            try:
                self._client.create_metric_descriptor(
                    name=f"projects/{self._project}", metric_descriptor=wanted[name],
                    retry=self._retry, timeout=self._timeout,
                )
            except gexc.AlreadyExists:
                pass
            except gexc.GoogleAPICallError as exc:
                raise _translate(exc, f"descriptor {name}") from None
            self._created.add(f"{name}|{fingerprint[name]}")
        if missing and self._state is not None:
            self._state.set_meta(self._meta_key, json.dumps(sorted(self._created)))

    def write(self, points: Sequence[MetricPoint], end_time: datetime) -> None:
        self.ensure_descriptors()
        series = [self._series(p, end_time) for p in points]
        for start in range(0, len(series), MAX_SERIES_PER_CALL):
            try:
                self._client.create_time_series(
                    name=f"projects/{self._project}",
                    time_series=series[start : start + MAX_SERIES_PER_CALL],
                    retry=self._retry, timeout=self._timeout,
                )
            except (gexc.GoogleAPICallError, gexc.RetryError) as exc:
                raise _translate(exc, f"series {start}-{start + MAX_SERIES_PER_CALL}") from None
            except Exception as exc:  # noqa: BLE001 - a malformed reply or a transport surprise is this sink's
                raise NotifierRetryable(f"cloud monitoring: {type(exc).__name__}") from None

    def _series(self, p: MetricPoint, end_time: datetime) -> monitoring_v3.TimeSeries:
        value = {"int64_value": int(p.value)} if p.value_type == "INT64" else {"double_value": p.value}
        return monitoring_v3.TimeSeries(
            metric={"type": metric_type(p.name), "labels": dict(p.labels)},
            resource={"type": "global", "labels": {"project_id": self._project}},
            metric_kind=metric_pb2.MetricDescriptor.MetricKind.GAUGE,
            points=[monitoring_v3.Point(interval={"end_time": end_time}, value=value)],
        )


def _translate(exc: Exception, what: str) -> NotifierRetryable | NotifierRejected:
    if isinstance(exc, gexc.RetryError):
        cause = exc.cause
        return NotifierRetryable(f"cloud monitoring {what}: retries exhausted: {type(cause).__name__}")
    message = getattr(exc, "message", str(exc))
    detail = f"cloud monitoring {what}: {type(exc).__name__}: {str(message)[:200]}"
    if isinstance(exc, _TRANSIENT):
        return NotifierRetryable(detail)
    return NotifierRejected(detail)
