"""The training reference: its bin edges, categories and profile, derived once in SQL and kept in state."""

from __future__ import annotations

from dataclasses import dataclass

from monitor.config import ModelConfig
from monitor.errors import TableNotFound
from monitor.pipeline.ingest import ingest
from monitor.schema.profile import Spec, WindowProfile
from monitor.sql import profiler as profiling
from monitor.sql.queries import Source
from monitor.stores.base import Store


@dataclass(frozen=True)
class Reference:
    """The reference's specs (bin edges, categories) and its profile, fixed once and stored."""

    specs: dict[str, Spec]
    profile: WindowProfile


def ensure_reference(cfg: ModelConfig, store: Store) -> Reference:
    """Load the reference specs and profile from state, or derive them once in SQL."""
    key = f"reference:{cfg.model}:{profiling.fingerprint(cfg)}"
    cached = store.get_state(key)
    if cached is not None:
        specs_json, _, profile_json = cached.partition("\n")
        return Reference(profiling.specs_from_json(specs_json), profiling.profile_from_json(profile_json))
    table = cfg.reference_table
    if not store.exists(table):
        if cfg.reference.path is None:
            raise TableNotFound(f"reference table {table!r} does not exist and no reference.path is configured")
        ingest(store, cfg, "reference", cfg.resolve(cfg.reference.path))
    src = Source(table=store.table(table))
    has_label = cfg.labels is not None and cfg.labels.column in columns(store, table)
    cols = profiling.columns(cfg, with_label=has_label)
    specs = profiling.build_specs(store, src, cols, cfg.drift.bins, cfg.drift.top_k)
    ref_profile = profiling.profile(store, src, list(specs.values()))
    store.put_state(key, profiling.specs_to_json(specs) + "\n" + profiling.profile_to_json(ref_profile))
    return Reference(specs, ref_profile)


def columns(store: Store, table: str) -> dict[str, str]:
    getter = getattr(store, "columns", None)
    return getter(table) if getter else {}
