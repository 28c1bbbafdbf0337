"""Rules: known answers of thresholds, lookups, persistence and the config's validation."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from alerts.rules import evaluate, persisted_severity
from monitor.config.alerts import AlertsConfig, ShareRule, Thresholds
from monitor.errors import ConfigError
from monitor.schema.summary import FeatureVerdict
from tests.alerts.conftest import make_summary


def test_threshold_levels_above_and_below() -> None:
    t = Thresholds(warn=0.1, critical=0.25)
    assert [t.level(v) for v in (0.05, 0.1, 0.11, 0.25, 0.3, None)] == [None, None, "warn", "warn", "critical", None]
    low = Thresholds(warn=0.8, critical=0.6, direction="below")
    assert [low.level(v) for v in (0.9, 0.7, 0.5)] == [None, "warn", "critical"]
    assert Thresholds().level(0.9, drifted=True) == "warn"  # no warn threshold: the verdict decides
    assert Thresholds().level(0.9, drifted=False) is None


def test_feature_thresholds_by_feature_then_statistic_then_kind() -> None:
    rule = AlertsConfig.model_validate({"feature_drift": {
        "features": {"force_z": {"warn": 0.5}}, "statistics": {"psi": {"warn": 0.2, "critical": 0.4}},
        "kinds": {"numerical": {"warn": 0.9}}}}).feature_drift
    v = FeatureVerdict(name="force_z", kind="numerical", statistic="psi", value=0.3, threshold=0.25, drifted=True)
    assert rule.thresholds_for(v).warn == 0.5
    assert rule.thresholds_for(v.model_copy(update={"name": "torque"})).critical == 0.4
    assert rule.thresholds_for(v.model_copy(update={"name": "torque", "statistic": "ks"})).warn == 0.9
    finding = evaluate("feature_drift", rule, make_summary(0, {"force_z": 0.42, "torque": 0.45}))["features"]
    assert finding.level == "critical"
    assert finding.lines == ("torque PSI 0.45 > 0.4",)  # force_z 0.42 is under its own 0.5


def test_feature_drift_per_feature_subjects() -> None:
    rule = AlertsConfig.model_validate({"feature_drift": {"per_feature": True}}).feature_drift
    findings = evaluate("feature_drift", rule, make_summary(0, {"force_z": 0.42}))
    assert findings["force_z"].level == "warn" and findings["torque"].level is None
    assert findings["force_z"].short == "force_z PSI 0.42 > 0.25"


def test_dataset_drift_defaults_warn_on_the_verdict_and_page_above_half() -> None:
    rule = AlertsConfig().dataset_drift
    levels = [evaluate("dataset_drift", rule, make_summary(0, {f: 0.3 for f in drifted}))["dataset"].level
              for drifted in ([], ["force_z"], ["force_z", "torque", "speed", "temp"],
                              ["force_z", "torque", "speed", "temp", "station"])]
    assert levels == [None, None, "warn", "critical"]


def test_data_quality_rules() -> None:
    config = AlertsConfig()
    s = make_summary(0, rows=400, rejected=40, null_rates={"torque": 0.3, "speed": 0.06}).model_copy(
        update={"expected_rows": 1000})
    nulls = evaluate("null_rate", config.null_rate, s)["dataset"]
    assert nulls.level == "critical"
    assert nulls.lines == ("torque null rate 0.3 > 0.2", "speed null rate 0.06 > 0.05")
    rejected = evaluate("rejected_rows", config.rejected_rows, s)["dataset"]
    assert (rejected.level, rejected.headline) == ("warn", "40/440 rows rejected (0.0909 > 0.01)")
    volume = evaluate("volume", config.volume, s)["dataset"]
    assert (volume.level, volume.headline) == ("warn", "400 rows, expected 1000 (off by 60%)")
    s = s.model_copy(update={"expected_rows": None})
    assert evaluate("volume", AlertsConfig().volume, s) == {}  # no expected count: off


def _perf(status: str, **metrics: tuple[float, str]) -> dict[str, object]:
    return {"status": status, "coverage": {"labelled": 800, "predictions": 1000, "fraction": 0.8},
            "metrics": {k: {"value": v, "interval": [v - 0.05, v + 0.05], "reference": 0.55, "verdict": verdict}
                        for k, (v, verdict) in metrics.items()}}


def test_performance_rule_alerts_on_a_drop_decided_with_its_interval() -> None:
    rule = AlertsConfig.model_validate(
        {"performance": {"metrics": {"f1_1": {"warn": 0.8, "critical": 0.6, "direction": "below"}}}}).performance
    s = make_summary(0)
    s.performance = _perf("provisional", recall_0=(0.30, "drop"), accuracy=(0.80, "ok"), f1_1=(0.7, "ok"))
    found = evaluate("performance", rule, s)
    assert found["recall_0"].level == "critical"  # the defect class's recall dropped: page
    assert found["accuracy"].level is None
    assert found["f1_1"].level == "warn"  # an absolute floor, below 0.8
    assert "80% labelled" in found["recall_0"].headline


def test_the_default_performance_rule_pages_on_the_important_class_of_the_model() -> None:
    rule = AlertsConfig().performance
    churn = make_summary(0)  # a churn model: class 1 (the churners) is the one that matters
    churn.performance = {**_perf("final", recall_0=(0.30, "drop"), recall_1=(0.40, "drop")), "key_class": 1}
    found = evaluate("performance", rule, churn)
    assert found["recall_1"].level == "critical" and "recall_0" not in found
    assert found["recall_1"].headline == ("performance: recall_1 (important class) for the window of 01 Mar, "
                                          "80% labelled (final): 0.4 [0.35, 0.45], reference 0.55")
    wheel = make_summary(0)
    wheel.performance = {**_perf("final", recall_0=(0.30, "drop"), recall_1=(0.40, "drop")), "key_class": 0}
    found = evaluate("performance", rule, wheel)
    assert found["recall_0"].level == "critical" and "recall_1" not in found
    # A user's rule may name the alias or a class outright.
    both = AlertsConfig.model_validate({"performance": {"on_drop": {"recall_important": "warn",
                                                                    "recall_0": "critical"}}}).performance
    found = evaluate("performance", both, churn)
    assert (found["recall_1"].level, found["recall_0"].level) == ("warn", "critical")


def test_performance_is_not_judged_before_enough_labels() -> None:
    rule = AlertsConfig().performance
    s = make_summary(0)
    s.performance = _perf("not_yet_known", recall_0=(0.10, "not_yet_known"))
    assert evaluate("performance", rule, s) == {}


def test_n_of_m_counts_the_history() -> None:
    rule = AlertsConfig.model_validate({"feature_drift": {"for_runs": 2, "of_last": 3}}).feature_drift
    breach, fine = make_summary(2, {"force_z": 0.42}), make_summary(1)
    assert persisted_severity("feature_drift", rule, breach, [fine, fine])["features"].level is None
    assert persisted_severity("feature_drift", rule, breach, [fine, breach])["features"].level == "warn"
    assert persisted_severity("feature_drift", rule, fine, [breach, breach])["features"].level == "warn"


def test_config_errors_name_the_field() -> None:
    with pytest.raises(ValidationError, match="for_runs"):
        AlertsConfig.model_validate({"dataset_drift": {"for_runs": 3, "of_last": 2}})
    with pytest.raises(ValidationError, match="unknown_rule"):
        AlertsConfig.model_validate({"unknown_rule": {}})
    with pytest.raises(ValidationError, match="cooldown"):
        AlertsConfig.model_validate({"label_drift": {"cooldown": "soon"}})


def test_unknown_rule_lists_the_known_ones() -> None:
    with pytest.raises(ConfigError, match=r"known rules: \['dataset_drift', 'estimated_performance', 'feature_drift'"):
        evaluate("nope", AlertsConfig().dataset_drift, make_summary(0))


def test_dataset_drift_from_the_joint_distribution_says_the_classifier_fired() -> None:
    s = make_summary(0).model_copy(update={"dataset_drift": True,
                                           "multivariate": {"auc": 0.71, "threshold": 0.583, "drifted": True}})
    (f,) = evaluate("dataset_drift", ShareRule(), s).values()
    assert f.level == "warn"
    assert f.headline == ("drift share 0, 0/8 features drifted, joint distribution changed "
                          "(classifier AUC 0.71 > 0.583)")
    assert f.short == "drift share 0, joint distribution changed"


def test_an_estimated_drop_warns_until_the_realized_value_is_final() -> None:
    rule = AlertsConfig().estimated_performance
    s = make_summary(0)
    s.estimated_performance = {**_perf("", accuracy=(0.70, "drop"), recall_0=(0.60, "ok")), "key_class": 0}
    found = evaluate("estimated_performance", rule, s)
    assert found["accuracy"].level == "warn" and found["recall_0"].level is None
    assert found["accuracy"].headline == (
        "estimated performance: accuracy for the window of 01 Mar, estimated, no labels yet: 0.7 [0.65, 0.75], "
        "reference 0.55 (assumes no concept drift)")
    s.performance = _perf("provisional", accuracy=(0.80, "ok"))
    assert evaluate("estimated_performance", rule, s)["accuracy"].level == "warn"  # labels not all in yet
    s.performance = _perf("final", accuracy=(0.80, "ok"))
    assert evaluate("estimated_performance", rule, s)["accuracy"].level is None  # realized, final, fine: resolved
    churn = make_summary(0)
    churn.estimated_performance = {**_perf("", recall_1=(0.2, "drop"), recall_0=(0.2, "drop")), "key_class": 1}
    found = evaluate("estimated_performance", rule, churn)
    assert found["recall_1"].level == "warn" and "recall_0" not in found



def test_an_empty_window_is_critical_even_without_an_expected_count() -> None:
    s = make_summary(0, rows=0)
    volume = evaluate("volume", AlertsConfig().volume, s)["dataset"]
    assert (volume.level, volume.headline) == ("critical", "0 rows in the window")
    s = s.model_copy(update={"expected_rows": 500})
    assert evaluate("volume", AlertsConfig().volume, s)["dataset"].headline == "0 rows in the window, expected 500"


def test_a_wholly_null_feature_never_reads_as_back_to_normal() -> None:
    from monitor.schema.summary import FeatureQuality

    s = make_summary(0)
    gone = s.features[0].model_copy(update={"status": "insufficient_data", "value": None, "drifted": False})
    s = s.model_copy(update={"features": [gone, *s.features[1:]], "data_quality": {
        **s.data_quality, gone.name: FeatureQuality(null_rate=1.0, out_of_range_rate=0.0)}})
    assert evaluate("feature_drift", AlertsConfig().feature_drift, s) == {}  # no finding: nothing resolves
    assert evaluate("null_rate", AlertsConfig().null_rate, s)["dataset"].level == "critical"


def test_a_data_quality_finding_without_a_breach_says_where_it_stands_now() -> None:
    s = make_summary(0, null_rates={"torque": 0.01, "speed": 0.002})
    nulls = evaluate("null_rate", AlertsConfig().null_rate, s)["dataset"]
    assert nulls.level is None and nulls.headline == "highest now: torque null rate 0.01"  # what a resolve shows
