"""Data-quality states that can't read as fine: wholly NULL, constant where the reference varies, changed where it was constant."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from monitor.api import wiring as service
from monitor.config import ModelConfig
from monitor.demo import simulate
from monitor.schema.summary import RunSummary
from tests.conftest import START


def _problems(s: RunSummary) -> dict[tuple[str, str], str]:
    assert s.quality is not None
    return {(c["check"], c["subject"]): c["detail"] for c in s.quality["checks"] if c["status"] == "problem"}


def test_constant_and_changed_constant_and_wholly_null_features_are_flagged(cfg: ModelConfig) -> None:
    try:
        store = service.open_store(cfg)
        ref = simulate.reference(3000).assign(fy_std=0.0)  # a feature constant in the reference
        store.insert_frame(cfg.reference_table, ref)
        logs, _ = simulate.traffic(2, 400, START, scenario="none")
        day1 = logs["ts"] >= START + timedelta(days=1)
        logs.loc[~day1, "fy_std"] = 0.0
        logs.loc[day1, "fy_std"] = -100.0  # ... that changed
        logs.loc[day1, "tx_mean"] = 1.25  # a sensor stuck at one value
        logs.loc[day1, "tz_mean"] = None  # a sensor gone
        store.insert_frame("predictions", logs)
        calm = service.run({cfg.model: cfg}, at=START + timedelta(days=1))[0]
        assert not [k for k in _problems(calm) if k[0] == "constant"]
        hit = service.run({cfg.model: cfg}, at=START + timedelta(days=2))[0]
        problems = _problems(hit)
        assert problems[("constant", "fy_std")] == "values -100 to -100; the reference is constant at 0"
        assert problems[("constant", "tx_mean")].startswith("every value is 1.25; the reference ranges")
        assert problems[("null_rate", "tz_mean")].startswith("wholly NULL: no value in 400 rows")
        alerts = {(a.severity, a.message) for a in hit.alerts}
        assert any(sev == "critical" and m.startswith("fy_std out of range rate 1 > 0.2") for sev, m in alerts)
        assert any(sev == "critical" and m.startswith("tz_mean null rate 1 > 0.2") for sev, m in alerts)
    finally:
        service.close_stores()


def test_a_drifted_sensor_that_goes_wholly_null_is_not_resolved(cfg: ModelConfig, tmp_path: Path) -> None:
    try:
        store = service.open_store(cfg)
        store.insert_frame(cfg.reference_table, simulate.reference(3000))
        logs, _ = simulate.traffic(2, 600, START, scenario="none")
        day0 = logs["ts"] < START + timedelta(days=1)
        logs.loc[day0, "tz_mean"] = logs.loc[day0, "tz_mean"] + 5.0  # drifted on day 0
        logs.loc[~day0, "tz_mean"] = None  # then gone on day 1
        store.insert_frame("predictions", logs)
        first = service.run({cfg.model: cfg}, at=START + timedelta(days=1))[0]
        assert any(a.rule == "feature_drift" and a.severity in ("warn", "critical") for a in first.alerts)
        second = service.run({cfg.model: cfg}, at=START + timedelta(days=2))[0]
        assert not [a for a in second.alerts if a.severity == "resolved" and a.rule == "feature_drift"]
        assert any(a.rule == "null_rate" and a.severity == "critical" for a in second.alerts)
    finally:
        service.close_stores()


def test_a_wrong_probability_column_is_a_named_problem_of_the_run_not_a_quiet_na(cfg: ModelConfig,
                                                                                  tmp_path: Path) -> None:
    from monitor.pipeline.ingest import ingest

    try:
        store = service.open_store(cfg)
        store.insert_frame(cfg.reference_table, simulate.reference(3000))
        logs, _ = simulate.traffic(1, 300, START, scenario="none")
        logs.rename(columns={"probability": "prob_ok"}).to_csv(tmp_path / "p.csv", index=False)
        assert ingest(store, cfg, "predictions", tmp_path / "p.csv").warnings["column missing: probability"] == 300
        s = service.run({cfg.model: cfg}, at=START + timedelta(days=1))[0]
        assert _problems(s)[("null_rate", "prediction")].startswith("wholly NULL: no prediction in 300 rows")
    finally:
        service.close_stores()
