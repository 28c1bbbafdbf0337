"""Loading the monitored models: the config's own validation, then what only the pipeline can check."""

from __future__ import annotations

from pathlib import Path

from monitor.config import ModelConfig, load_config_dir, load_model_config
from monitor.config.common import IMPORTANT
from monitor.drift.statistics import STATISTICS
from monitor.errors import ConfigError
from monitor.performance.values import DIRECTION


def problems(cfg: ModelConfig) -> list[tuple[str, str]]:
    """(field, message) for every setting that names something the pipeline does not have."""
    out: list[tuple[str, str]] = []

    def statistic(loc: str, name: str | None, kind: str) -> None:
        if name is None:
            return
        stat = STATISTICS.get(name)
        if stat is None:
            out.append((loc, f"unknown statistic {name!r}; valid: {sorted(STATISTICS)}"))
        elif kind not in stat.kinds:
            valid = sorted(n for n, s in STATISTICS.items() if kind in s.kinds)
            out.append((loc, f"statistic {name!r} does not apply to {kind} features; valid: {valid}"))

    statistic("drift.numerical.statistic", cfg.drift.numerical.statistic, "numerical")
    statistic("drift.categorical.statistic", cfg.drift.categorical.statistic, "categorical")
    for i, f in enumerate(cfg.features):
        statistic(f"features.{i}.statistic", f.statistic, f.kind)
    metrics = set(DIRECTION) | {m.rsplit("_", 1)[0] + IMPORTANT for m in DIRECTION if m[-2:] in ("_0", "_1")}
    for name in sorted(set(cfg.performance.floors) - metrics):
        out.append((f"performance.floors.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    rule = cfg.alerts.performance
    for name in sorted((set(rule.on_drop) | set(rule.metrics)) - metrics):
        out.append((f"alerts.performance.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    for name in sorted(set(cfg.alerts.estimated_performance.on_drop) - metrics):
        out.append((f"alerts.estimated_performance.{name}", f"unknown metric {name!r}; valid: {sorted(metrics)}"))
    return out


def check(cfg: ModelConfig, source: str) -> ModelConfig:
    """The config itself when the pipeline can run it; else ConfigError naming each bad field."""
    found = problems(cfg)
    if found:
        raise ConfigError("\n".join([f"invalid config {source}:", *(f"  {loc}: {msg}" for loc, msg in found)]))
    return cfg


def load_model(path: str | Path, env: dict[str, str] | None = None) -> ModelConfig:
    """One model's YAML, validated by the config and checked against the pipeline's registries."""
    return check(load_model_config(path, env), str(path))


def load_models(directory: str | Path, env: dict[str, str] | None = None) -> dict[str, ModelConfig]:
    """Every *.yaml of a folder, each validated and checked: what the API and the CLI start from."""
    configs = load_config_dir(directory, env)
    for cfg in configs.values():
        check(cfg, f"{directory} (model {cfg.model!r})")
    return configs
