"""The CLI starts light: `driftline --help` imports none of the analytics stack (issue 19: < 0.5 s)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("evidently", "sklearn", "pandas", "scipy", "duckdb", "pydantic", "numpy")


def _imported(*argv: str) -> set[str]:
    code = ("import sys, contextlib, io\n"
            "from monitor.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):\n"
            f"    main({list(argv)!r})\n"
            "print(' '.join(sorted(m.split('.')[0] for m in sys.modules)))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    return set(out.stdout.split())


def test_help_imports_no_analytics_stack() -> None:
    for argv in (["--help"], ["run", "--help"], ["demo", "--help"], ["backfill", "--help"]):
        assert not _imported(*argv) & set(HEAVY), argv


def test_python_m_monitor_cli_help_works_and_imports_no_evidently_or_sklearn() -> None:
    out = subprocess.run([sys.executable, "-X", "importtime", "-m", "monitor.cli", "--help"], cwd=ROOT,
                         capture_output=True, text=True, check=True, timeout=60,
                         env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    assert "usage: driftline" in out.stdout
    modules = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in out.stderr.splitlines()}
    assert "evidently" not in modules and "sklearn" not in modules and "pandas" not in modules


def test_the_pipeline_imports_no_sklearn_or_evidently_until_the_classifier_or_the_report_runs() -> None:
    code = "import sys, monitor.api.wiring, monitor.pipeline.run; print(' '.join(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, check=True,
                         timeout=60, env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})
    roots = {m.split(".")[0] for m in out.stdout.split()}
    assert "sklearn" not in roots and "evidently" not in roots
