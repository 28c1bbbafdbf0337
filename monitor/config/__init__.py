"""Configuration: the service Settings (environment) and one validated ModelConfig per model (YAML)."""

from monitor.config.common import check_identifier, parse_duration
from monitor.config.model import FeatureConfig, ModelConfig, load_config_dir, load_model_config
from monitor.config.settings import AuthSettings, Settings, get_settings

__all__ = [
    "AuthSettings",
    "FeatureConfig",
    "ModelConfig",
    "Settings",
    "check_identifier",
    "get_settings",
    "load_config_dir",
    "load_model_config",
    "parse_duration",
]
