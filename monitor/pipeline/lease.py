"""One run per (model, window), whatever the store: a lease in the store, taken before any side effect.

The holder is `host:pid:random`. A lease expires after `window.lease_ttl`; on the same host a lease
whose process is gone is taken over at once (a killed `driftline run` is re-run without waiting).
A second caller waits up to defaults.LEASE_WAIT seconds for the holder's result, then is told the
run is in progress (RunInProgress: 409 from the API, exit 4 from the CLI).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import datetime
from typing import Any, Protocol

from monitor.config import ModelConfig, defaults
from monitor.errors import RunInProgress
from monitor.stores.base import Store


class Leases(Protocol):
    """What a store offers for leases (DuckDBStore, BigQueryStore)."""

    def take_lease(self, key: str, owner: str, now: datetime, expires_at: datetime, replace: str = "") -> bool: ...

    def lease_owner(self, key: str) -> str | None: ...

    def release_lease(self, key: str, owner: str) -> None: ...


def holder_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"


def _dead_here(holder: str) -> bool:
    """Whether a holder ran on this host in a process that no longer exists."""
    host, _, rest = holder.partition(":")
    pid = rest.partition(":")[0]
    if host != socket.gethostname() or not pid.isdigit() or int(pid) == os.getpid():
        return False
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return True
    except PermissionError:
        return False
    return False


def try_take(store: Leases, key: str, owner: str, now: datetime, cfg: ModelConfig) -> bool:
    """Take the lease, or take it over from a holder on this host that died."""
    until = now + cfg.window.lease_duration
    if store.take_lease(key, owner, now, until):
        return True
    held = store.lease_owner(key)
    return bool(held and _dead_here(held) and store.take_lease(key, owner, now, until, replace=held))


@contextlib.contextmanager
def leased(store: Leases, key: str, cfg: ModelConfig, now: datetime,
           stored: Callable[[], object | None], wait: float = defaults.LEASE_WAIT) -> Iterator[str | None]:
    """Holds the (model, window) lease inside the block (yields its holder id). If another caller holds
    it, waits up to `wait` seconds for `stored()` to find its result (then yields None: use the stored
    run) and else raises RunInProgress."""
    owner = holder_id()
    deadline = time.monotonic() + wait
    while not try_take(store, key, owner, now, cfg):
        if stored() is not None:
            yield None
            return
        if time.monotonic() >= deadline:
            raise RunInProgress(f"the run of {key} is in progress elsewhere (lease held by "
                                f"{store.lease_owner(key) or 'another caller'}); its result will be stored, "
                                "retry in a minute")
        time.sleep(0.2)
    try:
        yield owner
    finally:
        store.release_lease(key, owner)


@contextlib.contextmanager
def lease_of(store: Store, run_id: str, cfg: ModelConfig, now: datetime) -> Iterator[str | None]:
    """`leased` for a run's store; a store without leases (a test double) runs as before."""
    if not hasattr(store, "take_lease"):
        yield "unleased"
        return
    with leased(store, run_id, cfg, now, lambda: store.get_run(run_id)) as owner:  # type: ignore[arg-type]
        yield owner


def flush_outbox(alert_hook: object | None) -> dict[str, Any] | None:
    """Send the model's pending outbox rows through the hook's `flush` (when it has one); what is left."""
    flush = getattr(alert_hook, "flush", None)
    return flush() if flush is not None else None  # type: ignore[no-any-return]
