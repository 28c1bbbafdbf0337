"""The headline in words: directions and sizes from the stored digests, ranked, and every verdict's reason."""

from __future__ import annotations

from datetime import datetime

from monitor.schema.summary import FeatureVerdict, RunSummary, Window
from reports.story import dataset_drift_reason, findings


def _summary(features: list[FeatureVerdict], profiles: dict, **kw) -> RunSummary:  # type: ignore[no-untyped-def,type-arg]
    decided = [v for v in features if v.status != "insufficient_data"]
    share = sum(v.drifted for v in decided) / len(decided)
    return RunSummary(run_id="r", model="m", window=Window(start=datetime(2026, 1, 1), end=datetime(2026, 1, 2)),
                      rows=1000, rows_rejected=0, features=features, drift_share=share,
                      dataset_drift=kw.pop("dataset_drift", share >= 0.5), prediction_drift=None, label_drift=None,
                      data_quality={}, report_url="/report/r",
                      extra={"profiles": profiles, "drift_share_threshold": 0.5}, **kw)


def _num(name: str, drifted: bool = True) -> FeatureVerdict:
    return FeatureVerdict(name=name, kind="numerical", statistic="wasserstein", value=1.0, threshold=0.2,
                          drifted=drifted)


def test_numerical_moves_are_said_with_direction_and_size_in_reference_std_biggest_first() -> None:
    profiles = {
        "a": {"kind": "numerical", "ref_mean": 10.0, "ref_std": 2.0, "mean": 13.0, "std": 2.0},
        "b": {"kind": "numerical", "ref_mean": 0.0, "ref_std": 1.0, "mean": -0.5, "std": 1.0},
        "c": {"kind": "numerical", "ref_mean": 0.0, "ref_std": 1.0, "mean": 0.0, "std": 1.0},
    }
    out = findings(_summary([_num("b"), _num("a"), _num("c", drifted=False)], profiles))
    assert [f.text for f in out] == ["a up 1.5 std (mean 10 → 13)", "b down 0.5 std (mean 0 → -0.5)"]
    assert [f.direction for f in out] == ["up", "down"]


def test_new_categories_are_said_with_their_share() -> None:
    v = FeatureVerdict(name="tire", kind="categorical", statistic="jensenshannon", value=0.2, threshold=0.1,
                       drifted=True)
    prof = {"kind": "categorical", "categories": ["x", "(other)", "(unseen)"], "reference": [1.0, 0, 0],
            "window": [0.8, 0, 0.2], "unseen_values": ["new-batch"], "unseen_share": 0.2}
    [f] = findings(_summary([v], {"tire": prof}))
    assert f.text == "tire: new categories (new-batch) in 20% of rows" and f.direction == "new"


def test_a_performance_drop_outranks_drift_and_carries_its_interval() -> None:
    perf = {"status": "final", "key_class": 0, "metrics": {
        "accuracy": {"value": 0.7, "interval": [0.65, 0.75], "reference": 0.9, "verdict": "drop"}}}
    profiles = {"a": {"kind": "numerical", "ref_mean": 0.0, "ref_std": 1.0, "mean": 3.0, "std": 1.0}}
    out = findings(_summary([_num("a")], profiles, performance=perf))
    assert out[0].kind == "performance"
    assert out[0].text == "accuracy dropped to 0.7 [0.65, 0.75] against the reference 0.9"


def test_dataset_drift_from_the_joint_classifier_alone_is_explained() -> None:
    mv = {"auc": 0.81, "threshold": 0.6, "drifted": True, "ci_low": 0.78, "ci_high": 0.84}
    s = _summary([_num("a", drifted=False), _num("b", drifted=False)], {}, multivariate=mv, dataset_drift=True)
    reason = dataset_drift_reason(s)
    assert reason.startswith("Dataset drift: yes, because the joint classifier's AUC is 0.81")
    assert "only 0 of 2 features drifted (0%; the rule is at least 50%)" in reason
    assert any(f.kind == "joint" for f in findings(s))
    quiet = _summary([_num("a", drifted=False), _num("b", drifted=False)], {})
    assert dataset_drift_reason(quiet) == "Dataset drift: no — 0 of 2 features drifted (0%; the rule is at least 50%)."
