"""Configured feature expressions: parsed once, at load, by the only module that imports sqlglot.

An expression is accepted only when every node of its parse tree is on an allowlist (columns of the
log row, literals, arithmetic, comparisons, CASE/IF, CAST and a few scalar functions) and it parses
to the same tree in both dialects, so a run on DuckDB and on BigQuery computes the same thing.
Aggregates, window functions, subqueries, table functions (`read_text`) and unknown functions are
refused at config load, with the offending part named.
"""

from __future__ import annotations

import re
from functools import lru_cache

from monitor.config.common import check_identifier
from monitor.errors import UnsafeIdentifier

TRIPLE_QUOTE = "'''"
_DIALECTS = ("bigquery", "duckdb")  # it runs on either store: it must mean the same to both

# sqlglot node names a scalar expression over one row may contain (every other node is refused).
_ALLOWED_NODES = frozenset({
    # values and names
    "Column", "Identifier", "Literal", "Boolean", "Null", "Paren", "DataType", "DataTypeParam",
    # operators
    "Neg", "Not", "Add", "Sub", "Mul", "Div", "Mod", "EQ", "NEQ", "GT", "GTE", "LT", "LTE", "And", "Or",
    "Is", "In", "Between", "Like", "DPipe",
    # conditionals and casts
    "Case", "If", "Cast", "TryCast", "Coalesce", "Nullif",
    # scalar functions, the same in both dialects
    "Abs", "Ln", "Exp", "Sqrt", "Pow", "Round", "Floor", "Ceil", "Greatest", "Least", "Sign",
    "Lower", "Upper", "Trim", "Length", "Substring", "Concat",
})
_CAST_TYPES = ("STRING", "INT64", "BOOL")  # DuckDB reads these BigQuery names too; FLOAT64 and DOUBLE differ
_CAST_AS = re.compile(r"\bAS\s+([A-Za-z_][A-Za-z0-9_]*)", re.IGNORECASE)
ALLOWED_FUNCTIONS = ("ABS", "CASE", "CAST", "CEIL", "COALESCE", "CONCAT", "EXP", "FLOOR", "GREATEST", "IF",
                     "LEAST", "LENGTH", "LN", "LOWER", "NULLIF", "POWER", "ROUND", "SIGN", "SQRT", "SUBSTRING",
                     "TRIM", "UPPER")


def _signature(tree: object) -> list[tuple[str, str]]:
    """The tree's node kinds in order (types of casts included), to compare how the two dialects read it."""
    return [(type(n).__name__, str(getattr(n, "this", "")) if type(n).__name__ == "DataType" else "")
            for n in tree.walk()]  # type: ignore[attr-defined]


def _refuse(expr: str, why: str) -> UnsafeIdentifier:
    return UnsafeIdentifier(f"expression {expr!r}: {why}")


def _node_name(node: object) -> str:
    name = getattr(node, "name", "") or ""
    kind = type(node).__name__
    return f"{name.upper()}()" if kind == "Anonymous" and name else kind


@lru_cache(maxsize=1024)  # each expression is parsed once per process, however many queries use it
def parse_expression(expr: str) -> tuple[str, ...]:
    """Accept one scalar SQL expression over the row, the same in both dialects; return the columns it reads."""
    import sqlglot
    from sqlglot import exp

    if any(token in expr for token in (";", "--", "/*", "`", '"', "\\", TRIPLE_QUOTE)):
        # Quoted identifiers would bypass the identifier pattern, and the two dialects read
        # escapes and triple-quoted strings differently: expressions use plain names only.
        raise _refuse(expr, "no statements, comments, escapes or quoted names allowed")
    if "::" in expr or any(t.upper() not in _CAST_TYPES for t in _CAST_AS.findall(expr)):
        raise _refuse(expr, f"CAST(x AS type) with a type spelled alike in both dialects: {', '.join(_CAST_TYPES)}")
    trees = []
    for dialect in _DIALECTS:
        try:
            tree = sqlglot.parse_one(expr, read=dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as err:
            raise _refuse(expr, f"does not parse: {err}") from None
        for node in tree.walk():
            if isinstance(node, (exp.AggFunc, exp.Window)):
                raise _refuse(expr, f"{_node_name(node)} aggregates over rows; only a scalar expression over "
                                    "one log row is allowed")
            if isinstance(node, (exp.Select, exp.Subquery, exp.Query)):
                raise _refuse(expr, "subqueries are not allowed; only a scalar expression over the row")
            if type(node).__name__ not in _ALLOWED_NODES:
                raise _refuse(expr, f"{_node_name(node)} is not allowed; functions allowed: "
                                    f"{', '.join(ALLOWED_FUNCTIONS)}")
            if isinstance(node, exp.Column) and node.table:
                raise _refuse(expr, f"{node.sql()}: name the log row's columns without a table")
        trees.append(tree)
    if _signature(trees[0]) != _signature(trees[1]):
        # e.g. LOG(x) is the natural log in BigQuery and log10 in DuckDB: refused rather than guessed.
        raise _refuse(expr, "means different things in BigQuery and DuckDB; write it so both read it alike "
                            "(e.g. LN(x) rather than LOG(x))")
    columns = [check_identifier(c.name) for c in trees[0].find_all(exp.Column)]
    return tuple(dict.fromkeys(columns))


def validate_expression(expr: str) -> str:
    """The expression itself if parse_expression accepts it."""
    parse_expression(expr)
    return expr
