"""Feature expressions are parsed against an allowlist, not screened by a denylist."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest

from monitor.config.expressions import parse_expression
from monitor.errors import ConfigError, UnsafeIdentifier
from monitor.pipeline.models import load_model as load_model_config
from monitor.sql.profiler import label_expr
from tests.conftest import write_config


@pytest.mark.parametrize(("expr", "why"), [
    ("max(fz_max)", "aggregates"),                      # the audit's false alarm at run time
    ("sum(fz_max) over ()", "aggregates"),
    ("count(*)", "aggregates"),
    ("read_text('/etc/passwd')", r"READ_TEXT\(\) is not allowed"),  # a DuckDB table function reading files
    ("(SELECT 1) + fz_max", "subqueries"),
    ("fz_max IN (SELECT 1)", "subqueries"),
    ("p.fz_max", "without a table"),                     # a column of the labels join, not of the row
    ("log(fz_max)", "not allowed"),                      # ln in BigQuery, log10 in DuckDB
    ("CAST(fz_max AS DOUBLE)", "spelled alike"),         # DuckDB's name; BigQuery has no DOUBLE
    ("fz_max::DOUBLE", "spelled alike"),
    ("random()", "not allowed"),
    ("@p + 1", "not allowed"),
    ("$1", "not allowed"),
])
def test_refused_expressions_say_why(expr: str, why: str) -> None:
    with pytest.raises(UnsafeIdentifier, match=why):
        parse_expression(expr)


@pytest.mark.parametrize(("expr", "reads"), [
    ("fz_max - fz_min", ("fz_max", "fz_min")),
    ("coalesce(a, 0) / nullif(b, 0)", ("a", "b")),
    ("CASE WHEN a > 1 THEN ln(a) ELSE 0 END", ("a",)),
    ("upper(trim(CAST(c AS STRING)))", ("c",)),
    (label_expr("__label"), ("__label",)),               # the expression the run itself builds
])
def test_scalar_expressions_over_the_row_are_accepted_and_run(expr: str, reads: tuple[str, ...]) -> None:
    assert set(parse_expression(expr)) == set(reads)
    cols = ", ".join(f"2 AS {c}" for c in reads)
    assert len(duckdb.sql(f"SELECT {expr} AS v FROM (SELECT {cols})").fetchall()) == 1


@pytest.mark.parametrize("expr", ["max(fz_max)", "sum(fz_max) over ()", "read_text('/etc/passwd')"])
def test_a_refused_expression_fails_config_load_naming_the_field(tmp_path: Path, expr: str) -> None:
    path = write_config(tmp_path)
    path.write_text(path.read_text().replace('expr: "fz_max - fz_min"', f'expr: "{expr}"'))
    with pytest.raises(ConfigError, match=r"features\.11\.expr"):
        load_model_config(path)
