"""Shared fixtures: a real DuckDB store loaded with simulated wheel-assembly traffic."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import pytest

from monitor.config import ModelConfig, load_model_config
from monitor.demo import simulate
from monitor.stores.duckdb import DuckDBStore

EXAMPLE = Path(__file__).resolve().parents[1] / "monitor" / "demo" / "examples" / "wheel-assembly.yaml"
START = datetime(2026, 11, 16)


def write_config(directory: Path, **overrides: str) -> Path:
    """Copy the example config into `directory`, with top-level YAML lines replaced."""
    text = EXAMPLE.read_text()
    for key, value in overrides.items():
        text += f"\n{key}: {value}\n"
    path = directory / "wheel-assembly.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def config_dir(tmp_path: Path) -> Path:
    # Evidently's HTML takes seconds per run; tests that look at it turn it back on.
    write_config(tmp_path, report="{evidently: false}", window="{length: 24h, min_rows: 200}")
    return tmp_path


@pytest.fixture
def cfg(config_dir: Path) -> ModelConfig:
    return load_model_config(config_dir / "wheel-assembly.yaml")


@pytest.fixture
def loaded(cfg: ModelConfig) -> Iterator[tuple[ModelConfig, DuckDBStore]]:
    """A store with a 4,000-row reference and 7 days x 600 rows of the new-tire-batch scenario."""
    store = DuckDBStore(cfg.resolve(cfg.store.path))
    store.insert_frame(cfg.reference_table, simulate.reference(4000))
    logs, labels = simulate.traffic(7, 600, START, scenario="new_tire_batch")
    store.insert_frame("predictions", logs)
    store.upsert_labels("labels", labels, "request_id")
    yield cfg, store
    store.close()
