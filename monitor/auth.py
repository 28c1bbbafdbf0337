"""Who may call what: Google OIDC tokens, IAP's signed header, a local bearer token.

    POST /run                    runner: a Google-signed OIDC token of the scheduler's service account
                                 (mode google), or the configured bearer token (mode local-token)
    GET /report, /runs, /metrics reader: such a token (scheduler or a listed reader account), or IAP's
                                 signed ``x-goog-iap-jwt-assertion`` header (mode google)
    anything                     open only in the explicit mode local-open

Verification is FastAPI-independent (``Verifier``) and raises AuthError; the FastAPI dependencies of
``Authenticator`` turn that into HTTP 401 at the edge. This module is the google-auth adapter.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import jwt as pyjwt
from fastapi import Depends, HTTPException, Request
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt
from google.auth import transport
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, model_validator

from monitor.errors import AuthError, ConfigError

log = logging.getLogger(__name__)

AuthMode = Literal["local-open", "local-token", "google"]

GOOGLE_OIDC_CERTS_URL = "https://www.googleapis.com/oauth2/v1/certs"
IAP_CERTS_URL = "https://www.gstatic.com/iap/verify/public_key"
GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_HEADER = "x-goog-iap-jwt-assertion"
_MIN_BEARER_LENGTH = 16
# What Cloud Run leaves in place of the signature after checking a token itself.
_SIGNATURE_REMOVED = ".SIGNATURE_REMOVED_BY_GOOGLE"
_BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)


class AuthSettings(BaseModel):
    """How callers are authenticated; a deployed mode with a missing field refuses to start."""

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

    @model_validator(mode="after")
    def _deployed_needs_auth(self) -> AuthSettings:
        # ConfigError is not a ValueError, so pydantic lets it through unwrapped.
        if self.mode == "google":
            for name in ("audience", "scheduler_service_account"):
                if not getattr(self, name).strip():
                    raise ConfigError(f"auth.{name} must be set when auth.mode is 'google'")
        if self.mode == "local-token":
            secret = self.bearer_token.get_secret_value() if self.bearer_token else ""
            if len(secret) < _MIN_BEARER_LENGTH:
                raise ConfigError(
                    f"auth.bearer_token must be at least {_MIN_BEARER_LENGTH} characters "
                    "when auth.mode is 'local-token'"
                )
        return self

    @classmethod
    def from_mapping(cls, values: dict[str, Any]) -> AuthSettings:
        """Validate plain values (e.g. from Settings) into AuthSettings; ConfigError names each bad field."""
        try:
            return cls.model_validate(values)
        except ValidationError as exc:
            fields = "; ".join(
                f"auth.{'.'.join(str(p) for p in e['loc']) or 'mode'}: {e['msg']}" for e in exc.errors()
            )
            raise ConfigError(f"invalid auth settings: {fields}") from None


def auth_settings_from(settings: Any) -> AuthSettings:
    """Build AuthSettings from the service Settings' flat auth_* fields (absent ones take defaults)."""
    names = {
        "mode": "auth_mode",
        "audience": "auth_audience",
        "scheduler_service_account": "scheduler_service_account",
        "reader_service_accounts": "reader_service_accounts",
        "iap_audience": "iap_audience",
        "bearer_token": "auth_token",
        "oidc_certs_url": "oidc_certs_url",
        "iap_certs_url": "iap_certs_url",
    }
    values = {ours: getattr(settings, theirs) for ours, theirs in names.items() if hasattr(settings, theirs)}
    if not values.get("audience"):
        # Cloud Scheduler's OIDC audience is the service URL unless told otherwise.
        values["audience"] = getattr(settings, "public_url", "") or ""
    readers = values.get("reader_service_accounts")
    if isinstance(readers, str):
        values["reader_service_accounts"] = tuple(r.strip() for r in readers.split(",") if r.strip())
    return AuthSettings.from_mapping(values)


@dataclass(frozen=True)
class Principal:
    """Who made a request, and how that was established."""

    email: str
    via: Literal["open", "bearer", "oidc", "iap"]


class CachingRequest(transport.Request):
    """A google-auth transport that caches certificate responses, so each request does not refetch."""

    def __init__(self, inner: transport.Request | None = None, ttl_seconds: float = 300.0) -> None:
        self._inner = inner or google_requests.Request()
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, transport.Response]] = {}
        self._lock = threading.Lock()

    def __call__(
        self,
        url: str,
        method: str = "GET",
        body: Any = None,
        headers: Any = None,
        timeout: Any = None,
        **kwargs: Any,
    ) -> transport.Response:
        if method != "GET" or body is not None or self._ttl <= 0:
            return self._inner(url, method=method, body=body, headers=headers, timeout=timeout, **kwargs)
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(url)
            if hit and now - hit[0] < self._ttl:
                return hit[1]
        response = self._inner(url, method=method, headers=headers, timeout=timeout or 10, **kwargs)
        if response.status == 200:
            with self._lock:
                self._cache[url] = (now, response)
        return response


class Verifier:
    """Verifies tokens and headers against AuthSettings; raises AuthError, knows nothing of HTTP."""

    def __init__(self, settings: AuthSettings, request: transport.Request | None = None) -> None:
        self.settings = settings
        self._request = request or CachingRequest(ttl_seconds=settings.certs_cache_seconds)

    def verify_oidc(self, token: str, allowed_emails: Collection[str]) -> Principal:
        """Check a Google-signed OIDC identity token: RS256, signature, expiry, issuer, audience, email."""
        s = self.settings
        claims = self._decode(token, "RS256", s.oidc_certs_url, s.audience)
        if claims.get("iss") not in GOOGLE_ISSUERS:
            raise AuthError(f"token issuer {claims.get('iss')!r} is not Google")
        email = claims.get("email")
        if not isinstance(email, str) or email not in allowed_emails:
            raise AuthError(f"token email {email!r} is not allowed here")
        if claims.get("email_verified") is not True:
            raise AuthError("token email is not verified")
        return Principal(email=email, via="oidc")

    def verify_iap(self, assertion: str) -> Principal:
        """Check IAP's signed header: ES256, signature, expiry, issuer, audience."""
        s = self.settings
        if not s.iap_audience:
            raise AuthError("IAP is not configured (auth.iap_audience is empty)")
        claims = self._decode(assertion, "ES256", s.iap_certs_url, s.iap_audience)
        if claims.get("iss") != IAP_ISSUER:
            raise AuthError(f"IAP assertion issuer {claims.get('iss')!r} is not {IAP_ISSUER}")
        email = claims.get("email")
        if not isinstance(email, str) or not email:
            raise AuthError("IAP assertion carries no email")
        return Principal(email=email, via="iap")

    def verify_bearer(self, token: str) -> Principal:
        """Compare a bearer token with the configured one in constant time."""
        expected = self.settings.bearer_token
        if expected is None:
            raise AuthError("no bearer token is configured")
        if not hmac.compare_digest(token.encode(), expected.get_secret_value().encode()):
            raise AuthError("bearer token does not match")
        return Principal(email="local-token", via="bearer")

    def authenticate_runner(self, authorization: str | None) -> Principal:
        """Decide whether a caller may start a run (POST /run)."""
        mode = self.settings.mode
        if mode == "local-open":
            return Principal(email="anonymous", via="open")
        token = _bearer(authorization)
        if mode == "local-token":
            return self.verify_bearer(token)
        return self.verify_oidc(token, {self.settings.scheduler_service_account})

    def authenticate_reader(self, authorization: str | None, iap_assertion: str | None) -> Principal:
        """Decide whether a caller may read reports, runs and metrics."""
        mode = self.settings.mode
        if mode == "local-open":
            return Principal(email="anonymous", via="open")
        if mode == "local-token":
            return self.verify_bearer(_bearer(authorization))
        # A present but invalid IAP header is refused outright, never skipped in favour of a token.
        if iap_assertion and self.settings.iap_audience:
            return self.verify_iap(iap_assertion)
        readers = {self.settings.scheduler_service_account, *self.settings.reader_service_accounts}
        return self.verify_oidc(_bearer(authorization), readers)

    def _decode(self, token: str, algorithm: str, certs_url: str, audience: str) -> dict[str, Any]:
        # Pin the algorithm first: 'none', HS256 or a key-type swap never reach the library.
        try:
            header = google_jwt.decode_header(token)
        except (ValueError, TypeError) as exc:
            raise AuthError(f"malformed token: {exc}") from None
        if header.get("alg") != algorithm:
            raise AuthError(f"token algorithm {header.get('alg')!r} is not {algorithm}")
        if token.endswith(_SIGNATURE_REMOVED):
            raise AuthError(
                "the token's signature was removed by Cloud Run's invoker IAM check; "
                "deploy with --no-invoker-iam-check so the service can verify it (docs/deploy.md)"
            )
        try:
            claims = id_token.verify_token(
                token,
                self._request,
                audience=audience,
                certs_url=certs_url,
                clock_skew_in_seconds=self.settings.clock_skew_seconds,
            )
        except google_exceptions.TransportError as exc:
            log.error("could not fetch signing certificates from %s: %s", certs_url, exc)
            raise AuthError("could not fetch signing certificates") from None
        except (google_exceptions.GoogleAuthError, pyjwt.PyJWTError, ValueError, KeyError) as exc:
            raise AuthError(f"token refused: {exc}") from None
        # The JWK code path of google-auth only checks exp when present; a token must carry it.
        if not isinstance(claims.get("exp"), int | float):
            raise AuthError("token has no expiry")
        return dict(claims)


def _bearer(authorization: str | None) -> str:
    match = _BEARER.match(authorization or "")
    if not match:
        raise AuthError("missing 'Authorization: Bearer <token>' header")
    return match.group(1)


class Authenticator:
    """FastAPI dependencies over a Verifier; store it at ``app.state.authenticator`` for RunnerDep/ReaderDep."""

    def __init__(self, settings: AuthSettings, verifier: Verifier | None = None) -> None:
        self.settings = settings
        self.verifier = verifier or Verifier(settings)

    def runner(self, request: Request) -> Principal:
        """Dependency for POST /run: the principal, or HTTP 401."""
        return self._edge(lambda: self.verifier.authenticate_runner(request.headers.get("authorization")))

    def reader(self, request: Request) -> Principal:
        """Dependency for /report, /runs, /metrics: the principal, or HTTP 401."""
        headers = request.headers
        return self._edge(
            lambda: self.verifier.authenticate_reader(headers.get("authorization"), headers.get(IAP_HEADER))
        )

    @staticmethod
    def _edge(check: Callable[[], Principal]) -> Principal:
        try:
            return check()
        except AuthError as exc:
            # The reason goes to the log, not to the caller.
            log.warning("unauthenticated request refused: %s", exc)
            raise HTTPException(
                status_code=401, detail="not authenticated", headers={"WWW-Authenticate": "Bearer"}
            ) from None


def require_runner(settings: AuthSettings) -> Callable[[Request], Principal]:
    """A FastAPI dependency admitting only callers allowed to start a run."""
    return Authenticator(settings).runner


def require_reader(settings: AuthSettings) -> Callable[[Request], Principal]:
    """A FastAPI dependency admitting only callers allowed to read reports."""
    return Authenticator(settings).reader


def _authenticator(request: Request) -> Authenticator:
    auth = getattr(request.app.state, "authenticator", None)
    if not isinstance(auth, Authenticator):
        # Fail closed (500) rather than serve a route whose guard was never installed.
        raise RuntimeError("app.state.authenticator is not set: the app was built without auth")  # noqa: TRY004
    return auth


def current_runner(request: Request) -> Principal:
    """Dependency for POST /run that uses the Authenticator stored at ``app.state.authenticator``."""
    return _authenticator(request).runner(request)


def current_reader(request: Request) -> Principal:
    """Dependency for the read routes that uses the Authenticator stored at ``app.state.authenticator``."""
    return _authenticator(request).reader(request)


# Module-level aliases: with PEP 563 annotations, an alias defined inside a function is invisible to
# FastAPI, which then treats the parameter as a query string instead of running the dependency.
RunnerDep = Annotated[Principal, Depends(current_runner)]
ReaderDep = Annotated[Principal, Depends(current_reader)]
