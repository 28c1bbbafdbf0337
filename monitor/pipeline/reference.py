"""The training reference: its bin edges, categories and profile, derived once in SQL and kept in state."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime

from monitor.config import ModelConfig
from monitor.errors import TableNotFound
from monitor.pipeline.ingest import ingest
from monitor.schema.profile import Spec, WindowProfile
from monitor.sql import profiler as profiling
from monitor.sql.bookkeeping import content_version_query
from monitor.sql.queries import Source
from monitor.stores.base import Store


@dataclass(frozen=True)
class Reference:
    """The reference's specs (bin edges, categories) and its profile, fixed once and stored."""

    specs: dict[str, Spec]
    profile: WindowProfile
    version: str = ""  # the table's content version (rows and checksum): a change derives everything again
    changed_at: str | None = None  # when a run first saw this version (ISO, UTC): shown on the run page


def ensure_reference(cfg: ModelConfig, store: Store) -> Reference:
    """Load the reference specs and profile from state, or derive them once per content version in SQL."""
    table = cfg.reference_table
    if not store.exists(table):
        if cfg.reference.path is None:
            raise TableNotFound(f"reference table {table!r} does not exist and no reference.path is configured")
        ingest(store, cfg, "reference", cfg.resolve(cfg.reference.path))
    version = content_version(store, table)
    changed_at = _changed_at(cfg, store, version)
    # The key holds the content version: appending to or replacing the table derives the specs once more.
    key = f"reference:{cfg.model}:{profiling.fingerprint(cfg)}:{version}"
    cached = store.get_state(key)
    if cached is not None:
        specs_json, _, profile_json = cached.partition("\n")
        return Reference(profiling.specs_from_json(specs_json), profiling.profile_from_json(profile_json),
                         version, changed_at)
    src = Source(table=store.table(table))
    has_label = cfg.labels is not None and cfg.labels.column in columns(store, table)
    cols = profiling.columns(cfg, with_label=has_label)
    specs = profiling.build_specs(store, src, cols, cfg.drift.bins, cfg.drift.top_k)
    ref_profile = profiling.profile(store, src, list(specs.values()))
    store.put_state(key, profiling.specs_to_json(specs) + "\n" + profiling.profile_to_json(ref_profile))
    return Reference(specs, ref_profile, version, changed_at)


def content_version(store: Store, table: str) -> str:
    """A short hash of the table's row count and row checksum (monitor.sql.bookkeeping)."""
    row = store.query(content_version_query(store.dialect, store.table(table)))[0]
    return hashlib.sha256(f"{row['n']}:{row['checksum']}".encode()).hexdigest()[:16]


def _changed_at(cfg: ModelConfig, store: Store, version: str) -> str | None:
    """When this content version was first seen; recorded the first time (the page shows it)."""
    key = f"reference-version:{cfg.model}"
    seen = store.get_state(key)
    known = json.loads(seen) if seen else {}
    if known.get("version") == version:
        return known.get("changed_at")
    now = datetime.now(UTC).isoformat(timespec="seconds")
    store.put_state(key, json.dumps({"version": version, "changed_at": now, "previous": known.get("version")}))
    return now


def columns(store: Store, table: str) -> dict[str, str]:
    getter = getattr(store, "columns", None)
    return getter(table) if getter else {}
