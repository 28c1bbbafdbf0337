"""Cloud Monitoring through the real google-cloud-monitoring gRPC client against a fake MetricService."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import grpc
import pytest

from alerts.base import MetricPoint
from alerts.cloud_monitoring import MAX_SERIES_PER_CALL, CloudMonitoringSink, metric_type
from alerts.metrics import METRICS, points_for
from monitor.errors import NotifierRejected, NotifierRetryable
from monitor.stores.duckdb import DuckDBAlertState
from tests.alerts.conftest import make_summary
from tests.alerts.fakes.monitoring import FakeMetricService

END = datetime(2026, 3, 1, 1, tzinfo=UTC)


def sink(fake: FakeMetricService, state: DuckDBAlertState | None = None) -> CloudMonitoringSink:
    return CloudMonitoringSink("demo-project", endpoint=fake.endpoint, state=state,
                               retry_initial=0.01, retry_deadline=0.3, timeout=5)


def test_points_are_labelled_gauges_on_the_global_resource(monitoring_fake: FakeMetricService) -> None:
    summary = make_summary(0, {"force_z": 0.42})
    sink(monitoring_fake).write(points_for(summary), END)
    series = {(ts.metric.type, ts.metric.labels.get("feature", "")): ts for ts in monitoring_fake.series()}
    share = series[(metric_type("drift_share"), "")]
    assert dict(share.metric.labels) == {"model": "wheel-assembly", "model_version": "v3"}
    assert share.resource.type == "global" and share.resource.labels["project_id"] == "demo-project"
    assert share.points[0].value.double_value == pytest.approx(0.125)
    force_z = series[(metric_type("feature_statistic"), "force_z")]
    assert dict(force_z.metric.labels)["statistic"] == "psi"
    assert force_z.points[0].value.double_value == pytest.approx(0.42)
    assert series[(metric_type("rows"), "")].points[0].value.int64_value == 1000
    assert monitoring_fake.series_calls[0].name == "projects/demo-project"


def test_descriptors_are_created_once_across_restarts(monitoring_fake: FakeMetricService,
                                                      state: DuckDBAlertState) -> None:
    sink(monitoring_fake, state).write(points_for(make_summary(0)), END)
    assert monitoring_fake.descriptor_calls == len(METRICS)
    assert sorted(monitoring_fake.descriptors) == sorted(metric_type(n) for n in METRICS)
    labels = [lab.key for lab in monitoring_fake.descriptors[metric_type("feature_statistic")].labels]
    assert labels == ["model", "model_version", "feature", "statistic"]
    sink(monitoring_fake, state).write(points_for(make_summary(1)), END.replace(hour=2))
    assert monitoring_fake.descriptor_calls == len(METRICS)


def test_at_most_200_series_per_call_in_as_few_calls_as_possible(monitoring_fake: FakeMetricService) -> None:
    points = [MetricPoint("feature_statistic", i / 1000, (("feature", f"f{i}"), ("model", "m"),
                                                          ("model_version", ""), ("statistic", "psi")))
              for i in range(450)]
    sink(monitoring_fake).write(points, END)
    sizes = [len(req.time_series) for req in monitoring_fake.series_calls]
    assert sizes == [200, 200, 50]
    assert len(sizes) == math.ceil(len(points) / MAX_SERIES_PER_CALL)


def test_unavailable_is_retried_inside_the_call(monitoring_fake: FakeMetricService) -> None:
    monitoring_fake.fail = [grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.UNAVAILABLE]
    sink(monitoring_fake).write(points_for(make_summary(0)), END)
    assert monitoring_fake.attempts == 3
    assert len(monitoring_fake.series_calls) == 1


def test_unavailable_beyond_the_deadline_is_retryable(monitoring_fake: FakeMetricService) -> None:
    monitoring_fake.down = True
    with pytest.raises(NotifierRetryable, match="retries exhausted: ServiceUnavailable"):
        sink(monitoring_fake).write(points_for(make_summary(0)), END)
    assert monitoring_fake.attempts >= 2


def test_invalid_argument_is_given_up_without_retry(monitoring_fake: FakeMetricService) -> None:
    monitoring_fake.fail = [grpc.StatusCode.INVALID_ARGUMENT]
    with pytest.raises(NotifierRejected, match="InvalidArgument"):
        sink(monitoring_fake).write(points_for(make_summary(0)), END)
    assert monitoring_fake.attempts == 1


def test_every_point_of_a_run_appears_once() -> None:
    points = points_for(make_summary(0, {"force_z": 0.42}))
    keys = [(p.name, p.labels) for p in points]
    assert len(keys) == len(set(keys))
    assert {p.name for p in points} <= set(METRICS)
