from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import load_config_dir, parse_duration
from monitor.errors import ConfigError
from monitor.pipeline.models import load_model as load_model_config
from tests.conftest import write_config


def test_example_config_loads(cfg) -> None:  # type: ignore[no-untyped-def]
    assert cfg.model == "wheel-assembly"
    assert [f.name for f in cfg.features][:2] == ["step_max", "z_mean"]
    assert cfg.window.duration.total_seconds() == 86_400


@pytest.mark.parametrize(
    ("extra", "field", "reason"),
    [
        ("drift: {numerical: {statistic: bogus}}", "drift.numerical.statistic", "unknown statistic 'bogus'"),
        ("window: {length: -24h}", "window.length", "duration"),
        ("window: {length: 24h, min_rows: 0}", "window.min_rows", "greater than or equal to 1"),
        ("model: 'Wheel Assembly!'", "model", "lower-case"),
        ("predictions: {table: 'x; DROP TABLE y'}", "predictions.table", "identifier"),
        ("colour: blue", "colour", "Extra inputs are not permitted"),
        ("drift: {spread_floor: -0.1}", "drift.spread_floor", "greater than or equal to 0"),
        ("drift: {rate_points: 0}", "drift.rate_points", "greater than 0"),
        ("drift: {rate_relative: -1}", "drift.rate_relative", "greater than 0"),
        ("drift: {zeros_points: 0}", "drift.zeros_points", "greater than 0"),
        ("drift: {floor_alpha: 1}", "drift.floor_alpha", "less than 1"),
        ("quality: {alpha: 0.5}", "quality.alpha", "less than 0.5"),
        ("quality: {level: 0.1}", "quality.level", "Extra inputs are not permitted"),
        ("performance: {floors: {recal_important: 0.1}}", "performance.floors.recal_important", "unknown metric"),
        ("performance: {floors: {accuracy: 1.5}}", "performance.floors", "absolute amount in [0, 1)"),
        ("performance: {fdr: 0.7}", "performance.fdr", "less than 0.5"),
        ("labels: {delay: soon}", "labels.delay", "timedelta"),
        ("alerts: {performance: {on_drop: {recall_9: critical}}}", "alerts.performance.recall_9", "unknown metric"),
    ],
)
def test_bad_config_fails_naming_the_field(tmp_path: Path, extra: str, field: str, reason: str) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "\n" + extra + "\n")
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert field in str(err.value)
    assert reason in str(err.value)


def test_unknown_statistic_on_a_feature_lists_the_valid_ones(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("{name: fx_mean, kind: numerical}",
                                             "{name: fx_mean, kind: numerical, statistic: mmd}"))
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert "features.2.statistic" in str(err.value)
    assert "['chisquare', 'jensenshannon', 'ks', 'psi', 'wasserstein']" in str(err.value)


def test_a_column_kind_must_fit_the_feature(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("{name: fx_mean, kind: numerical}",
                                             "{name: fx_mean, kind: numerical, column_kind: binary}"))
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert "features.2" in str(err.value) and "column_kind 'binary' does not fit a numerical feature" in str(err.value)
    path.write_text(path.read_text().replace("column_kind: binary", "column_kind: sometimes"))
    with pytest.raises(ConfigError, match="features.2.column_kind"):
        load_model_config(path)


def test_a_feature_states_its_own_kind_and_rate_floors(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace("{name: fx_mean, kind: numerical}",
                                             "{name: fx_mean, kind: numerical, column_kind: count, mean_relative: 0.1, "
                                             "zeros_points: 0.005}"))
    from monitor.pipeline.run import rate_floors

    cfg = load_model_config(path)
    f = next(f for f in cfg.features if f.name == "fx_mean")
    assert f.column_kind == "count" and rate_floors(cfg, f).mean_relative == 0.1
    assert rate_floors(cfg, f).zeros_points == 0.005 and rate_floors(cfg, None).zeros_points == 0.01
    assert rate_floors(cfg, f).points == cfg.drift.rate_points == 0.025


def test_the_quality_level_and_the_drift_budget_move_apart(tmp_path: Path) -> None:
    from monitor.pipeline.run import rate_floors

    path = write_config(tmp_path)
    path.write_text(path.read_text() + "\nquality: {alpha: 0.001}\n")
    cfg = load_model_config(path)
    assert cfg.quality.alpha == 0.001 and cfg.drift.fdr == 0.01
    floors = rate_floors(cfg, None)  # the rate tests' zero-share floor and gate come from drift
    assert (floors.zeros_points, floors.floor_alpha) == (cfg.drift.zeros_points, cfg.drift.floor_alpha) == (0.01, 0.02)


def test_feature_expression_must_be_scalar(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('expr: "fz_max - fz_min"', 'expr: "(SELECT 1) + fz_max"'))
    with pytest.raises(ConfigError, match="features.11.expr"):
        load_model_config(path)


def test_secrets_come_from_the_environment(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "\nchannels: {slack: {bot_token: '${SLACK_TOKEN}', channel: '#ml'}}\n")
    cfg = load_model_config(path, env={"SLACK_TOKEN": "xoxb-secret-1"})
    assert cfg.channels.slack is not None and cfg.channels.slack.bot_token is not None
    assert cfg.channels.slack.bot_token.get_secret_value() == "xoxb-secret-1"
    assert "xoxb-secret-1" not in repr(cfg) and "xoxb-secret-1" not in cfg.model_dump_json()
    with pytest.raises(ConfigError, match="SLACK_TOKEN"):
        load_model_config(path, env={})


def test_a_config_error_never_echoes_a_secret(tmp_path: Path) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text() + "\nchannels: {sms: {account_sid: AC1, auth_token: '${TW}', "
                    "from_number: 'not-a-number', recipients: ['+15555550100']}}\n")
    with pytest.raises(ConfigError) as err:
        load_model_config(path, env={"TW": "tw-secret-token-123"})
    assert "channels.sms" in str(err.value)
    assert "tw-secret-token-123" not in str(err.value)


def test_a_folder_of_configs_is_several_models(tmp_path: Path) -> None:
    write_config(tmp_path)
    other = (tmp_path / "wheel-assembly.yaml").read_text().replace("model: wheel-assembly", "model: second")
    (tmp_path / "second.yaml").write_text(other)
    assert sorted(load_config_dir(tmp_path)) == ["second", "wheel-assembly"]
    with pytest.raises(ConfigError, match="no model config"):
        load_config_dir(tmp_path / "empty")


def test_durations() -> None:
    assert parse_duration("30m").total_seconds() == 1800
    with pytest.raises(ValueError):
        parse_duration("0h")


def test_the_performance_policy_is_set_from_yaml(tmp_path: Path) -> None:
    from monitor.pipeline.performance import policy

    path = write_config(tmp_path, performance="{floors: {recall_important: 0.1}, fdr: 0.05, min_coverage: 0.3}",
                        labels="{table: labels, join_key: request_id, column: label, delay: 3d}")
    path.write_text(path.read_text().replace("important_class: 0", "important_class: 1"))
    cfg = load_model_config(path)
    p = policy(cfg)
    assert (p.key_class, p.fdr, p.min_coverage) == (1, 0.05, 0.3)
    assert p.floor("recall_1") == 0.1 and p.floor("accuracy") == 0.02  # the defaults stay for the rest
    assert cfg.labels is not None and cfg.labels.delay is not None and cfg.labels.delay.days == 3


def test_a_secret_in_a_config_error_is_redacted_wherever_it_was_placed(tmp_path: Path) -> None:
    # A token pasted into model: (or any field) must not reach the start-up error, raw or encoded.
    token = "xoxb-1234-Secret-Token"
    path = write_config(tmp_path)
    text = path.read_text().replace("model: wheel-assembly", "model: '${SLACK_TOKEN}'")
    path.write_text(text + "\nchannels: {slack: {bot_token: '${SLACK_TOKEN}', channel: '#ml'}}\n")
    with pytest.raises(ConfigError) as err:
        load_model_config(path, env={"SLACK_TOKEN": token})
    assert "model" in str(err.value) and token not in str(err.value) and "***" in str(err.value)
    path.write_text(text.replace("'${SLACK_TOKEN}'", f"'{token}'") +
                    f"\nchannels: {{slack: {{bot_token: '{token}', channel: '#ml'}}}}\n")
    with pytest.raises(ConfigError) as err:
        load_model_config(path)
    assert token not in str(err.value)
