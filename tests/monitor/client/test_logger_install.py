"""The logger fits a serving image: monitor.client needs google-cloud-bigquery alone (requirements-logger.txt)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest

from monitor.config import load_model_config
from monitor.stores.bigquery.store import BigQueryStore, PredictionsLayout
from tests.conftest import EXAMPLE
from tests.monitor.stores.emulator import Emulator

ROOT = Path(__file__).resolve().parents[3]
HEAVY = ("pandas", "numpy", "sklearn", "scipy", "evidently", "duckdb", "fastapi", "pydantic", "pyarrow")


def test_the_logger_runs_with_the_analytics_stack_unimportable() -> None:
    script = textwrap.dedent(f"""
        import sys
        HEAVY = {HEAVY!r}

        class Refuse:
            def find_spec(self, name, path=None, target=None):
                if name.split(".")[0] in HEAVY:
                    raise ImportError(f"{{name}} is not installed in a serving image")

        sys.meta_path.insert(0, Refuse())
        from datetime import datetime
        from monitor.client.predlog import PredictionLogger

        class Sink:
            rows = []
            def insert(self, rows, ids):
                self.rows.extend(rows)

        sink = Sink()
        logger = PredictionLogger(sink, flush_interval=0.01, columns=("request_id", "ts", "x"))
        logger.log("a", datetime(2026, 1, 1), "m", "v1", {{"x": 1.0, "y": 2.0}}, 0.5, 1)
        assert logger.close().sent == 1 and sink.rows == [{{"request_id": "a", "ts": "2026-01-01T00:00:00+00:00", "x": 1.0}}]
        assert not [m for m in sys.modules if m.split(".")[0] in HEAVY]
    """)
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.slow
def test_the_logger_streams_from_a_venv_with_only_requirements_logger(
        tmp_path: Path, bq_live: Emulator, bq_client: Any, bq_dataset: str) -> None:
    venv = tmp_path / "serving"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, timeout=120)
    py = venv / "bin" / "python"
    subprocess.run([str(py), "-m", "pip", "install", "-q", "-r", str(ROOT / "requirements-logger.txt")],
                   check=True, timeout=600, capture_output=True)
    installed = subprocess.run([str(py), "-m", "pip", "list", "--format=freeze"], check=True,
                               capture_output=True, text=True).stdout.lower()
    assert "google-cloud-bigquery==" in installed
    assert not [h for h in HEAVY if f"\n{h}==" in "\n" + installed], installed

    cfg = load_model_config(EXAMPLE)
    BigQueryStore(bq_client, bq_dataset, layouts=[PredictionsLayout.from_model_config(cfg)], retries=1).init()
    table = f"{bq_live.project}.{bq_dataset}.predictions"
    features = [c for c, _ in PredictionsLayout.from_model_config(cfg).columns
                if c not in ("probability", "predicted_class")]
    script = textwrap.dedent(f"""
        from datetime import datetime, timezone
        from google.api_core.client_options import ClientOptions
        from google.auth.credentials import AnonymousCredentials
        from google.cloud import bigquery
        from monitor.client.predlog import PredictionLogger

        client = bigquery.Client(project={bq_live.project!r}, credentials=AnonymousCredentials(),
                                 client_options=ClientOptions(api_endpoint={bq_live.url!r}))
        features = {features!r}
        logger = PredictionLogger.for_bigquery(client, {table!r}, features=features, flush_interval=0.05)
        row = {{f: 1.0 for f in features}} | {{"tire_type": "R17-sport"}}
        logger.log("venv-1", datetime(2026, 11, 16, tzinfo=timezone.utc), "wheel-assembly", "v1", row, 0.8, 1)
        stats = logger.close()
        assert (stats.sent, stats.failed) == (1, 0), stats
    """)
    done = subprocess.run([str(py), "-c", script], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          check=False, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    got = list(bq_client.query_and_wait(f"SELECT request_id FROM `{table}` WHERE ts >= TIMESTAMP '2000-01-01'"))
    assert [r["request_id"] for r in got] == ["venv-1"]
