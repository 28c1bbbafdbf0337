"""The metric points of a run: the important class's recall as its own series."""

from __future__ import annotations

from alerts.metrics import points_for
from tests.alerts.conftest import make_summary
from tests.alerts.test_rules import _perf


def test_the_metrics_carry_the_important_class_recall_as_its_own_series() -> None:
    s = make_summary(0)
    s.performance = {**_perf("final", recall_0=(0.9, "ok"), recall_1=(0.4, "drop")), "key_class": 1}
    points = {(p.name, dict(p.labels).get("metric"), dict(p.labels).get("source")): p.value for p in points_for(s)}
    assert points[("performance", "recall_important", "realized")] == 0.4 == points[("performance", "recall_1", "realized")]
