"""`driftline check`: the config against the store, one named line per problem."""

from __future__ import annotations

from datetime import timedelta

import pytest

from monitor.config import ModelConfig
from monitor.errors import ConfigError
from monitor.pipeline.models import store_problems
from monitor.pipeline.run import run_window
from monitor.sql.queries import Query
from monitor.stores.duckdb import DuckDBStore
from tests.conftest import START


def _with(cfg: ModelConfig, **sections: dict[str, object]) -> ModelConfig:
    return ModelConfig.model_validate({**cfg.model_dump(by_alias=True), **sections})


def test_the_demo_config_passes(loaded: tuple[ModelConfig, DuckDBStore]) -> None:
    cfg, store = loaded
    assert store_problems(cfg, store) == []


def test_a_misspelt_feature_a_wrong_probability_and_labels_without_the_join_key(
        loaded: tuple[ModelConfig, DuckDBStore]) -> None:
    cfg, store = loaded
    raw = cfg.model_dump(by_alias=True)
    raw["features"][5]["name"] = "fz_maen"
    bad = _with(cfg, features=raw["features"], prediction={**raw["prediction"], "probability": "prob"},
                labels={**raw["labels"], "join_key": "req_id"})
    lines = [p.line(bad.model) for p in store_problems(bad, store)]
    assert lines == [
        "wheel-assembly: features.5 (fz_maen): no column fz_maen in reference_wheel_assembly (closest: fz_mean); "
        "no column fz_maen in predictions (closest: fz_mean)",
        "wheel-assembly: prediction.probability: no column prob in reference_wheel_assembly (closest: probability); "
        "no column prob in predictions (closest: probability)",
        "wheel-assembly: labels.join_key: no column req_id in labels (closest: request_id)",
    ]
    with pytest.raises(ConfigError, match=r"features.5 \(fz_maen\).*labels.join_key") as err:
        run_window(bad, store, START + timedelta(days=2))  # the run names them instead of crashing in a statistic
    assert "prediction.probability" not in str(err.value)  # reported by the check; the run goes on without it


def test_values_are_checked_a_column_without_values_a_probability_out_of_range_and_foreign_classes(
        loaded: tuple[ModelConfig, DuckDBStore]) -> None:
    cfg, store = loaded
    store.query(Query("ALTER TABLE predictions ADD COLUMN fz_maen DOUBLE"))  # as ingest leaves a misspelt column
    store.query(Query("UPDATE predictions SET probability = probability * 10 WHERE probability > 0.95"))
    store.query(Query("UPDATE labels SET label = 7 WHERE label = 0"))
    raw = cfg.model_dump(by_alias=True)
    raw["features"][5]["name"] = "fz_maen"
    lines = [p.line(cfg.model) for p in store_problems(_with(cfg, features=raw["features"]), store)]
    assert lines[0] == ("wheel-assembly: features.5 (fz_maen): no column fz_maen in reference_wheel_assembly "
                        "(closest: fz_mean); fz_maen has no values in predictions (closest: fz_mean)")
    assert lines[1].startswith("wheel-assembly: prediction.probability: ") and "outside [0, 1]" in lines[1]
    assert lines[2] == "wheel-assembly: labels.column: label in labels holds ['7'], not the configured classes ['0', '1']"
    assert len(lines) == 3
