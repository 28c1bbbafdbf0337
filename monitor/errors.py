"""Driftline's one error tree.

    DriftlineError                 base of everything Driftline raises on purpose
    ├── ConfigError                a config file or setting is invalid (names the field)
    ├── StoreError                 the log store failed (DuckDB, BigQuery)
    │   ├── StoreUnavailable       transient: down, timeout, quota; worth retrying
    │   └── TableNotFound          a configured table or dataset does not exist
    ├── UnsafeIdentifier           a table/column name that must never reach SQL
    ├── IngestError                a file could not be ingested at all
    ├── UnknownStatistic           a registry lookup failed (lists the valid keys)
    ├── InsufficientData           a window or reference too small to decide
    ├── InvalidWindow              `at` outside [first logged row, now], or a window still open
    ├── RunInProgress              another caller holds the (model, window) lease; retry later
    ├── NotifierError              a channel failed to deliver
    │   ├── NotifierRetryable      try again later (429, 5xx, UNAVAILABLE)
    │   └── NotifierRejected       given up (bad token, invalid number, INVALID_ARGUMENT)
    └── AuthError                  a caller could not be authenticated

HTTP status codes appear only at the API edge (monitor/app.py).
"""

from __future__ import annotations


class DriftlineError(Exception):
    """Base class of every error Driftline raises on purpose."""


class ConfigError(DriftlineError):
    """A config file or setting is invalid; the message names the field."""


class StoreError(DriftlineError):
    """The log store failed; the message says what to check."""


class StoreUnavailable(StoreError):
    """The store is down, timed out or over quota: retrying may succeed."""


class TableNotFound(StoreError):
    """A configured table or dataset does not exist."""


class UnsafeIdentifier(DriftlineError):
    """A table or column name that does not match the identifier pattern."""


class IngestError(DriftlineError):
    """A file could not be ingested at all (unreadable, unknown target)."""


class UnknownStatistic(DriftlineError):
    """A registry lookup with a key that is not registered."""


class InsufficientData(DriftlineError):
    """A window or reference too small to reach a verdict."""


class InvalidWindow(DriftlineError):
    """A run asked for a window that cannot be judged (outside the logged range, or not yet complete)."""


class RunInProgress(DriftlineError):
    """Another caller holds the lease of this (model, window) run; its result will be stored."""


class NotifierError(DriftlineError):
    """A notification channel failed to deliver."""


class NotifierRetryable(NotifierError):
    """Delivery failed for a reason that may pass (rate limit, 5xx, unavailable)."""


class NotifierRejected(NotifierError):
    """Delivery was refused for good (bad credentials, invalid recipient)."""


class AuthError(DriftlineError):
    """A caller could not be authenticated or is not allowed."""
