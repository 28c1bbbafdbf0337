"""Reading a model's YAML: ${VAR}s expanded from the environment, validated into a ModelConfig, and an error
that names every bad field and never shows a secret."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from monitor.config.channels import secret_forms
from monitor.config.common import format_errors
from monitor.config.model import ModelConfig
from monitor.errors import ConfigError

_ENV_REF = re.compile(r"\$\{([A-Z_][A-Z0-9_]*)\}")


def _expand_env(node: Any, env: dict[str, str], used: list[str] | None = None) -> Any:
    """Expand ${VAR}s; each value taken from the environment is added to `used` (to keep it out of errors)."""
    if isinstance(node, str):
        def sub(m: re.Match[str]) -> str:
            if m.group(1) not in env:
                raise ConfigError(f"environment variable {m.group(1)} is referenced but not set")
            if used is not None:
                used.append(env[m.group(1)])
            return env[m.group(1)]
        return _ENV_REF.sub(sub, node)
    if isinstance(node, dict):
        return {k: _expand_env(v, env, used) for k, v in node.items()}
    if isinstance(node, list):
        return [_expand_env(v, env, used) for v in node]
    return node


_SECRET_KEYS = ("bot_token", "webhook_url", "auth_token", "account_sid", "routing_key", "secret")


def _redacted(message: str, raw: dict[str, Any], from_env: list[str]) -> str:
    """The error without any secret (from the environment or under channels:), wherever the value was placed."""
    channels = raw.get("channels") if isinstance(raw.get("channels"), dict) else {}
    values = list(from_env) + [str(c[k]) for c in channels.values() if isinstance(c, dict)
                               for k in _SECRET_KEYS if c.get(k)]
    forms = sorted({f for v in values if len(v) >= 6 for f in secret_forms(v) if len(f) >= 6}, key=len, reverse=True)
    for form in forms:
        message = message.replace(form, "***")
    return message


def load_model_config(path: str | Path, env: dict[str, str] | None = None) -> ModelConfig:
    """Load and validate one model's YAML config; ConfigError names every bad field."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigError(f"cannot read config {path}: {exc}") from exc
    if not isinstance(raw, dict):
        raise ConfigError(f"invalid config {path}: the top level must be a mapping")
    from_env: list[str] = []
    raw = _expand_env(raw, dict(os.environ) if env is None else env, from_env)
    raw.setdefault("base_dir", str(path.parent.resolve()))
    try:
        return ModelConfig.model_validate(raw)
    except ValidationError as exc:
        raise ConfigError(_redacted(format_errors(str(path), exc), raw, from_env)) from None
    except ConfigError as exc:  # raised by a registry inside a validator
        raise ConfigError(_redacted(f"invalid config {path}: {exc}", raw, from_env)) from None


def load_config_dir(directory: str | Path, env: dict[str, str] | None = None) -> dict[str, ModelConfig]:
    """Load every *.yaml in a folder: one monitored model each."""
    directory = Path(directory)
    files = sorted([*directory.glob("*.yaml"), *directory.glob("*.yml")])
    if not files:
        raise ConfigError(f"no model config (*.yaml) found in {directory}")
    configs: dict[str, ModelConfig] = {}
    for f in files:
        cfg = load_model_config(f, env)
        if cfg.model in configs:
            raise ConfigError(f"model {cfg.model!r} is configured twice ({f})")
        configs[cfg.model] = cfg
    return configs
