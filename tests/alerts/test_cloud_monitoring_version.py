"""A run's model_version, taken from the window's logs, labels every metric exported to Cloud Monitoring."""

from __future__ import annotations

from datetime import UTC, timedelta

from alerts.cloud_monitoring import CloudMonitoringSink
from alerts.metrics import points_for
from monitor.config import ModelConfig
from monitor.demo import simulate
from monitor.pipeline.run import run_window
from monitor.stores.duckdb import DuckDBStore
from tests.alerts.fakes.monitoring import FakeMetricService
from tests.conftest import START


def test_every_exported_series_carries_the_windows_model_version(cfg: ModelConfig,
                                                                 monitoring_fake: FakeMetricService) -> None:
    store = DuckDBStore(cfg.resolve(cfg.store.path))
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, _ = simulate.traffic(1, 600, START, scenario="none")
    logs["model_version"] = ["v7" if i % 4 else "v6" for i in range(len(logs))]  # a rollout: 75% on v7
    store.insert_frame("predictions", logs)
    summary = run_window(cfg, store, START + timedelta(days=1))
    store.close()
    assert summary.model_version == "v7" and summary.model_versions == {"v7": 0.75, "v6": 0.25}
    CloudMonitoringSink("demo-project", endpoint=monitoring_fake.endpoint, retry_initial=0.01,
                        retry_deadline=0.3, timeout=5).write(points_for(summary), (START + timedelta(days=1)).replace(tzinfo=UTC))
    series = monitoring_fake.series()
    assert series and {ts.metric.labels["model_version"] for ts in series} == {"v7"}
    # The run's cost is exported beside its verdicts (0 here: DuckDB does not meter bytes).
    assert [ts.points[0].value.int64_value for ts in series if ts.metric.type.endswith("/bytes_processed")] == [0]
