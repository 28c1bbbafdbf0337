"""BigQuery's errors as Driftline's, each saying what to check (the one translation of the BigQuery store):

    NotFound                        -> TableNotFound     (dataset/table: run `driftline init`)
    Forbidden (access)              -> StoreError        (IAM role to grant)
    Forbidden/429 (quota, rate)     -> StoreUnavailable  (retried with backoff)
    BadRequest                      -> StoreError        (the query was rejected; or bytes guard)
    BadRequest (concurrent update)  -> StoreUnavailable  (DML raced another DML on the table: retried)
    5xx, timeouts, connection       -> StoreUnavailable  (retried with backoff)
"""

from __future__ import annotations

from google.api_core import exceptions as gexc
from requests import exceptions as rexc

from monitor.errors import StoreError, StoreUnavailable, TableNotFound

_QUOTA_REASONS = ("quotaExceeded", "rateLimitExceeded", "resourcesExceeded", "backendError")


def translate(exc: BaseException, what: str) -> StoreError:
    """One Driftline error, saying what to check, for anything the client raised."""
    reasons = " ".join(str(e.get("reason", "")) for e in (getattr(exc, "errors", None) or []) if isinstance(e, dict))
    text = f"{what}: {exc}"
    if isinstance(exc, StoreError):
        return exc
    if isinstance(exc, gexc.NotFound):
        return TableNotFound(f"{text}. Check the project, dataset and table names in the config, "
                             "and run `driftline init` to create Driftline's tables.")
    if isinstance(exc, gexc.TooManyRequests) or any(r in reasons for r in _QUOTA_REASONS):
        return StoreUnavailable(f"{text}. BigQuery quota or rate limit; retrying later may succeed.")
    if isinstance(exc, gexc.Forbidden):
        return StoreError(f"{text}. Permission denied: the service account needs roles/bigquery.jobUser on the "
                          "project and roles/bigquery.dataEditor on the dataset (see docs/bigquery.md).")
    if isinstance(exc, gexc.BadRequest):
        if "concurrent update" in str(exc):
            # BigQuery aborts a DML statement that raced another on the same table; a retry succeeds.
            return StoreUnavailable(f"{text}. Another statement changed the table at the same time; retrying.")
        if "bytesBilledLimitExceeded" in reasons or "bytes billed" in str(exc):
            return StoreError(f"{text}. The query would scan more than store.maximum_bytes_billed; "
                              "shorten the window or raise the limit.")
        return StoreError(f"{text}. BigQuery rejected the query: check the column names and types in the config "
                          "against the table schema.")
    if isinstance(exc, gexc.Unauthorized):
        return StoreError(f"{text}. No valid credentials: run `gcloud auth application-default login` or set "
                          "GOOGLE_APPLICATION_CREDENTIALS (see docs/bigquery.md).")
    if isinstance(exc, (gexc.ServerError, gexc.RetryError, gexc.DeadlineExceeded, rexc.ConnectionError,
                        rexc.Timeout, ConnectionError, TimeoutError)):
        return StoreUnavailable(f"{text}. BigQuery is unreachable or timed out; check the network "
                                "(or the emulator) and retry.")
    if exc.__class__.__module__.startswith("google.auth"):
        return StoreError(f"{text}. Credentials problem: check Application Default Credentials.")
    return StoreError(text)
