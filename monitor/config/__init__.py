"""Configuration: the service Settings (environment) and one validated ModelConfig per model (YAML).

The names are imported on first use (PEP 562), so `from monitor.config import defaults` costs no
pydantic: `driftline --help` starts without it.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config.common import check_identifier, parse_duration
    from monitor.config.loading import load_config_dir, load_model_config
    from monitor.config.model import FeatureConfig, ModelConfig
    from monitor.config.settings import AuthSettings, Settings, get_settings

_WHERE = {
    "check_identifier": "common", "parse_duration": "common",
    "FeatureConfig": "model", "ModelConfig": "model", "load_config_dir": "loading", "load_model_config": "loading",
    "AuthSettings": "settings", "Settings": "settings", "get_settings": "settings",
}

__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name not in _WHERE:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(import_module(f"monitor.config.{_WHERE[name]}"), name)
    globals()[name] = value
    return value
