"""The service's one Settings object, read once from DRIFTLINE_* environment variables, auth included.

Nothing else in Driftline reads os.environ for settings; secrets are SecretStr, and a deployed
mode with a missing field refuses to start with a ConfigError naming it.
"""

from __future__ import annotations

import os
from functools import lru_cache
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, PydanticBaseSettingsSource, SettingsConfigDict

from monitor.config.common import format_errors
from monitor.errors import ConfigError

AuthMode = Literal["local-open", "local-token", "google"]
GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
MIN_BEARER_LENGTH = 16
ENV_PREFIX = "DRIFTLINE_"
# The environment names of the auth fields (DRIFTLINE_<name>), as deploy.md documents them.
AUTH_ENV = {
    "auth_mode": "mode",
    "auth_audience": "audience",
    "scheduler_service_account": "scheduler_service_account",
    "reader_service_accounts": "reader_service_accounts",
    "iap_audience": "iap_audience",
    "auth_token": "bearer_token",
    "oidc_certs_url": "oidc_certs_url",
    "iap_certs_url": "iap_certs_url",
}


class AuthSettings(BaseModel):
    """How callers are authenticated (monitor/api/verifier.py reads it)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # google is the default so that a deployment that forgot to configure auth fails closed.
    mode: AuthMode = "google"
    audience: str = ""  # the service URL, the audience of the scheduler's OIDC token
    scheduler_service_account: str = ""  # the only identity allowed to POST /run
    reader_service_accounts: tuple[str, ...] = ()  # extra identities that may read with a token
    iap_audience: str = ""  # /projects/NUMBER/global/backendServices/ID (or .../apps/PROJECT)
    bearer_token: SecretStr | None = None
    oidc_certs_url: str = GOOGLE_OIDC_CERTS_URL
    iap_certs_url: str = IAP_CERTS_URL
    clock_skew_seconds: int = Field(default=10, ge=0, le=300)
    certs_cache_seconds: int = Field(default=300, ge=0, le=86_400)

    @model_validator(mode="before")
    @classmethod
    def _split_readers(cls, values: Any) -> Any:
        readers = values.get("reader_service_accounts") if isinstance(values, dict) else None
        if isinstance(readers, str):  # the environment gives a comma-separated list
            values = {**values, "reader_service_accounts": tuple(r.strip() for r in readers.split(",") if r.strip())}
        return values

    @model_validator(mode="after")
    def _deployed_needs_auth(self) -> AuthSettings:
        # ConfigError is not a ValueError, so pydantic lets it through unwrapped.
        if self.mode == "google":
            for name in ("audience", "scheduler_service_account"):
                if not getattr(self, name).strip():
                    raise ConfigError(f"auth.{name} must be set when auth.mode is 'google'")
        if self.mode == "local-token":
            secret = self.bearer_token.get_secret_value() if self.bearer_token else ""
            if len(secret) < MIN_BEARER_LENGTH:
                raise ConfigError(
                    f"auth.bearer_token must be at least {MIN_BEARER_LENGTH} characters "
                    "when auth.mode is 'local-token'"
                )
        return self

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> AuthSettings:
        """Validate plain values into AuthSettings; ConfigError names each bad field."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            fields = "; ".join(
                f"auth.{'.'.join(str(p) for p in e['loc']) or 'mode'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid auth settings: {fields}") from None


class _FlatAuthEnv(PydanticBaseSettingsSource):
    """Reads the auth fields' flat DRIFTLINE_* names, which the nested `auth` field has no env name for."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False

    def __call__(self) -> dict[str, Any]:
        env = {k.upper(): v for k, v in os.environ.items()}
        return {name: env[ENV_PREFIX + name.upper()] for name in AUTH_ENV if ENV_PREFIX + name.upper() in env}


class Settings(BaseSettings):
    """Service-level settings from DRIFTLINE_* environment variables (auth under `.auth`)."""

    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, extra="ignore")

    config_dir: str = "config"
    log_json: bool = False
    log_level: str = "INFO"
    public_url: str = ""  # the service URL: links in alerts, and the default OIDC audience
    project_id: str | None = None  # for Cloud Logging's trace field
    # Where Evidently reports are written, overriding each model's report.directory. On Cloud Run,
    # mount a Cloud Storage bucket (gcsfuse volume) here so reports outlive the instance.
    report_dir: str | None = None
    # Who may call what: "google" (the default, so a forgotten setting fails closed), "local-token"
    # (a bearer token) or "local-open" (no auth: only on your own machine).
    auth: AuthSettings  # always built by _nest_auth, from the flat names or an `auth` mapping

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, env_settings, _FlatAuthEnv(settings_cls), dotenv_settings, file_secret_settings

    @model_validator(mode="before")
    @classmethod
    def _nest_auth(cls, values: Any) -> Any:
        if not isinstance(values, dict):
            return values
        values = dict(values)
        auth = dict(values.pop("auth", None) or {})
        for flat, nested in AUTH_ENV.items():
            if flat in values:
                auth.setdefault(nested, values.pop(flat))
        if not auth.get("audience"):
            # Cloud Scheduler's OIDC audience is the service URL unless told otherwise.
            auth["audience"] = values.get("public_url") or ""
        values["auth"] = AuthSettings.from_mapping(auth)
        return values


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """The service settings, read once (tests build their own Settings instead)."""
    try:
        return Settings()
    except ValidationError as exc:
        raise ConfigError(format_errors("environment (DRIFTLINE_*)", exc)) from None
