"""Who may call what: Google OIDC tokens, IAP's signed header, a local bearer token.

    POST /run                    runner: a Google-signed OIDC token of the scheduler's service account
                                 (mode google), or the configured bearer token (mode local-token)
    GET /report, /runs, /metrics reader: such a token (scheduler or a listed reader account), or IAP's
                                 signed ``x-goog-iap-jwt-assertion`` header (mode google)
    anything                     open only in the explicit mode local-open

Verification is FastAPI-independent (``monitor/api/verifier.py``) and raises AuthError; the FastAPI dependencies of
``Authenticator`` turn that into HTTP 401 at the edge. This module is the FastAPI edge.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from monitor.api.verifier import IAP_HEADER, Principal, Verifier
from monitor.config.settings import AuthSettings
from monitor.errors import AuthError

log = logging.getLogger(__name__)


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
