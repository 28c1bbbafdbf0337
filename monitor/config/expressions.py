"""Configured feature expressions: parsed once, at load, by the only module that imports sqlglot."""

from __future__ import annotations

from functools import lru_cache

from monitor.config.common import check_identifier
from monitor.errors import UnsafeIdentifier

TRIPLE_QUOTE = "'''"


@lru_cache(maxsize=1024)  # each expression is parsed once per process, however many queries use it
def parse_expression(expr: str) -> tuple[str, ...]:
    """Accept one scalar SQL expression over the row, safe in both dialects; return the columns it reads."""
    import sqlglot
    from sqlglot import exp

    if any(token in expr for token in (";", "--", "/*", "`", '"', "\\", TRIPLE_QUOTE)):
        # Quoted identifiers would bypass the identifier pattern, and the two dialects read
        # escapes and triple-quoted strings differently: expressions use plain names only.
        raise UnsafeIdentifier(f"expression {expr!r}: no statements, comments, escapes or quoted names allowed")
    forbidden = (exp.Select, exp.Subquery, exp.Insert, exp.Delete, exp.Update, exp.Drop, exp.Command)
    columns: list[str] = []
    for dialect in ("bigquery", "duckdb"):  # it runs on either store: it must be safe as read by both
        try:
            tree = sqlglot.parse_one(expr, read=dialect)
        except (sqlglot.errors.ParseError, sqlglot.errors.TokenError) as err:
            raise UnsafeIdentifier(f"expression {expr!r} does not parse: {err}") from None
        if isinstance(tree, forbidden) or any(isinstance(node, forbidden) for node in tree.walk()):
            raise UnsafeIdentifier(f"expression {expr!r}: only a scalar expression over the row is allowed")
        columns = [check_identifier(c.name) for c in tree.find_all(exp.Column)]
    return tuple(dict.fromkeys(columns))


def validate_expression(expr: str) -> str:
    """The expression itself if parse_expression accepts it."""
    parse_expression(expr)
    return expr
