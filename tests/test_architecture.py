"""The layout is a contract: import-linter's layers and forbidden imports, each vendor SDK in one module."""

from __future__ import annotations

import ast
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("monitor", "alerts", "reports")
LINT = str(Path(sys.executable).with_name("lint-imports"))

# Each vendor SDK, and the only modules that may import it (prefixes of their dotted names).
SDK_HOMES = {
    "duckdb": ("monitor.stores.duckdb",),
    "google.cloud.bigquery": ("monitor.stores.bigquery", "monitor.client.predlog"),
    "google.api_core": ("monitor.stores.bigquery.store", "monitor.stores.bigquery.errors", "monitor.client.predlog", "alerts.cloud_monitoring"),
    "google.cloud.monitoring_v3": ("alerts.cloud_monitoring",),
    "google.api": ("alerts.cloud_monitoring",),
    "google.auth": ("monitor.api.verifier",),
    "google.oauth2": ("monitor.api.verifier",),
    "jwt": ("monitor.api.verifier",),
    "fastapi": ("monitor.api.app", "monitor.api.auth", "monitor.api.deps", "monitor.api.alerting"),
    "slack_sdk": ("alerts.slack",),
    "twilio": ("alerts.sms",),
    "httpx": ("alerts.http",),
    "evidently": ("reports.evidently_report",),
    "plotly": ("reports.charts",),
    "rich": ("monitor.progress",),
    "sqlglot": ("monitor.config.expressions",),
}


def _modules() -> dict[str, Path]:
    out = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts).removesuffix(".__init__")
            out[name] = path
    return out


def _imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{a.name}" for a in node.names)
    return found


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(cwd)}
    return subprocess.run([LINT, "--config", str(cwd / "pyproject.toml"), "--no-cache"], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300, check=False)


def test_the_import_contracts_hold() -> None:
    result = _lint(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize(
    ("module", "line", "contract"),
    [
        ("alerts/rules.py", "from monitor.pipeline import run as _run", "alerts and reports read only"),
        ("monitor/pipeline/run.py", "import reports.pages as _pages", "only the composition roots"),
        ("monitor/config/model.py", "from monitor.drift import statistics as _s", "doors one way"),
        ("monitor/sql/queries.py", "import duckdb as _duckdb", "duckdb only in its store"),
    ],
)
def test_a_wrong_way_import_breaks_a_contract(tmp_path: Path, module: str, line: str, contract: str) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    target = tmp_path / module
    target.write_text(target.read_text() + f"\n{line}\n")
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert contract in result.stdout and "BROKEN" in result.stdout


def test_a_module_without_a_layer_breaks_the_layer_contract(tmp_path: Path) -> None:
    for package in PACKAGES:
        shutil.copytree(ROOT / package, tmp_path / package, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path)
    (tmp_path / "monitor" / "stray.py").write_text('"""A room nobody placed."""\n')
    result = _lint(tmp_path)
    assert result.returncode != 0
    assert "not listed as layers" in result.stdout and "monitor.stray" in result.stdout


def test_each_vendor_sdk_is_imported_in_its_adapter_only() -> None:
    wrong = []
    for name, path in _modules().items():
        for imported in _imports(path):
            for sdk, homes in SDK_HOMES.items():
                if (imported == sdk or imported.startswith(sdk + ".")) and not name.startswith(homes):
                    wrong.append(f"{name} imports {imported}")
    assert wrong == []


def test_every_room_says_what_it_is_in_one_line() -> None:
    rooms = [p for p in _modules().values() if p.name == "__init__.py"]
    assert len(rooms) >= 12
    for path in rooms:
        doc = ast.get_docstring(ast.parse(path.read_text()))
        assert doc and len(doc.splitlines()[0]) > 10, f"{path.relative_to(ROOT)} has no one-line docstring"


def test_modules_stay_small() -> None:
    big = {name: n for name, p in _modules().items() if (n := len(p.read_text().splitlines())) > 420}
    assert big == {}
