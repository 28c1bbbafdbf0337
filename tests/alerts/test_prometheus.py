"""The Prometheus text of GET /metrics: same names as Cloud Monitoring, valid exposition format."""

from __future__ import annotations

import re

from alerts.cloud_monitoring import PREFIX as GCP_PREFIX
from alerts.metrics import METRICS, points_for
from alerts.prometheus import render_prometheus
from tests.alerts.conftest import make_summary

SAMPLE = re.compile(r'^driftline_[a-z_]+\{([a-z_]+="[^"\\]*(\\.[^"\\]*)*",?)*\} -?[0-9.e+-]+$')


def test_known_answers_and_format() -> None:
    text = render_prometheus([make_summary(0, {"force_z": 0.42})])
    lines = text.splitlines()
    assert 'driftline_drift_share{model="wheel-assembly",model_version="v3"} 0.125' in lines
    assert ('driftline_feature_statistic{feature="force_z",model="wheel-assembly",model_version="v3",'
            'statistic="psi"} 0.42') in lines
    assert 'driftline_rows{model="wheel-assembly",model_version="v3"} 1000' in lines
    assert "# TYPE driftline_drift_share gauge" in lines
    for line in lines:
        assert line.startswith("#") or SAMPLE.match(line), line


def test_names_match_cloud_monitoring() -> None:
    names = {p.name for p in points_for(make_summary(0))}
    text = render_prometheus([make_summary(0)])
    for name in names:
        assert f"driftline_{name}{{" in text
        assert (GCP_PREFIX + name).endswith("driftline/" + name)
    assert names <= set(METRICS)


def test_label_values_are_escaped_and_models_listed_together() -> None:
    other = make_summary(0, model='we"ird\\model')
    text = render_prometheus([make_summary(0), other])
    assert 'model="we\\"ird\\\\model"' in text
    assert text.count("# TYPE driftline_drift_share gauge") == 1
    assert text.count("driftline_drift_share{") == 2
