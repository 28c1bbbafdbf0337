"""Verifies Google OIDC tokens, IAP's signed header and a local bearer token: the google-auth adapter.

FastAPI-independent: raises AuthError; monitor/api/auth.py turns that into HTTP 401 at the edge.
"""

from __future__ import annotations

import hmac
import logging
import re
import threading
import time
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Literal

import jwt as pyjwt
from google.auth import exceptions as google_exceptions
from google.auth import jwt as google_jwt
from google.auth import transport
from google.auth.transport import requests as google_requests
from google.oauth2 import id_token

from monitor.config.settings import AuthSettings
from monitor.errors import AuthError

log = logging.getLogger(__name__)

GOOGLE_ISSUERS = frozenset({"accounts.google.com", "https://accounts.google.com"})
IAP_ISSUER = "https://cloud.google.com/iap"
IAP_HEADER = "x-goog-iap-jwt-assertion"
# What Cloud Run leaves in place of the signature after checking a token itself.
_SIGNATURE_REMOVED = ".SIGNATURE_REMOVED_BY_GOOGLE"
_BEARER = re.compile(r"^Bearer\s+(\S+)\s*$", re.IGNORECASE)


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
        token = bearer(authorization)
        if mode == "local-token":
            return self.verify_bearer(token)
        return self.verify_oidc(token, {self.settings.scheduler_service_account})

    def authenticate_reader(self, authorization: str | None, iap_assertion: str | None) -> Principal:
        """Decide whether a caller may read reports, runs and metrics."""
        mode = self.settings.mode
        if mode == "local-open":
            return Principal(email="anonymous", via="open")
        if mode == "local-token":
            return self.verify_bearer(bearer(authorization))
        # A present but invalid IAP header is refused outright, never skipped in favour of a token.
        if iap_assertion and self.settings.iap_audience:
            return self.verify_iap(iap_assertion)
        readers = {self.settings.scheduler_service_account, *self.settings.reader_service_accounts}
        return self.verify_oidc(bearer(authorization), readers)

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


def bearer(authorization: str | None) -> str:
    match = _BEARER.match(authorization or "")
    if not match:
        raise AuthError("missing 'Authorization: Bearer <token>' header")
    return match.group(1)


