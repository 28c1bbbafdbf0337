"""The rules every config section shares: identifiers, durations, strict models, error formatting."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Annotated, Any

from pydantic import BaseModel, BeforeValidator, ConfigDict, ValidationError

from monitor.errors import UnsafeIdentifier

# The one identifier rule: SQL names are never quoted, so they must be plain.
IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
MODEL_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
# A Google Cloud project id: the optional first part of a table's full name `project.dataset.table`.
PROJECT_ID = re.compile(r"^[a-z][a-z0-9-]{4,61}[a-z0-9]$")
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd])\s*$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days"}


def check_identifier(name: str) -> str:
    """Return name if it is a plain identifier; raise UnsafeIdentifier before any SQL is built."""
    if not isinstance(name, str) or not IDENTIFIER.match(name):
        raise UnsafeIdentifier(f"refusing identifier {name!r}: only [A-Za-z_][A-Za-z0-9_]* is allowed")
    return name


def check_table(name: str) -> str:
    """Return name if it is `table`, `dataset.table` or `project.dataset.table` of plain parts; else refuse."""
    parts = name.split(".") if isinstance(name, str) else []
    if not 1 <= len(parts) <= 3 or (len(parts) == 3 and not PROJECT_ID.match(parts[0])):
        raise UnsafeIdentifier(f"refusing table name {name!r}: use table, dataset.table or project.dataset.table")
    for part in parts[-2:]:
        check_identifier(part)
    return name


def table_name(value: str) -> str:
    """A pydantic validator form of check_table (ValueError, so the field is named)."""
    try:
        return check_table(value)
    except UnsafeIdentifier as exc:
        raise ValueError(str(exc)) from None


def identifier(value: str) -> str:
    """A pydantic validator form of check_identifier (ValueError, so the field is named)."""
    if not IDENTIFIER.match(value):
        raise ValueError(f"{value!r} is not a plain SQL identifier ([A-Za-z_][A-Za-z0-9_]*)")
    return value


IMPORTANT = "_important"  # a metric name ending so means the important class's: recall_important


def metric_for_class(name: str, important_class: int) -> str:
    """A metric name with the important-class alias resolved: recall_important -> recall_1."""
    return name[: -len(IMPORTANT)] + f"_{important_class}" if name.endswith(IMPORTANT) else name


def parse_duration(text: str) -> timedelta:
    """Parse '24h', '30m', '7d' into a positive timedelta: the one duration syntax of the config."""
    match = _DURATION.match(text)
    if not match:
        raise ValueError(f"{text!r} is not a duration like '24h', '30m' or '7d'")
    amount = int(match.group(1))
    if amount <= 0:
        raise ValueError(f"{text!r} must be positive")
    return timedelta(**{_UNITS[match.group(2)]: amount})


def _duration_or_iso(value: Any) -> Any:
    # The config's style ("30m", "6h", "1d"); ISO 8601 and seconds are left to pydantic.
    if isinstance(value, str) and _DURATION.match(value):
        return parse_duration(value)
    return value


Duration = Annotated[timedelta, BeforeValidator(_duration_or_iso)]


class Strict(BaseModel):
    """A config section: unknown keys are errors, values are frozen once loaded."""

    model_config = ConfigDict(extra="forbid", frozen=True)


def format_errors(source: str, err: ValidationError, prefix: str = "") -> str:
    """A pydantic error as one line per bad field, each named by its dotted path."""
    lines = [f"invalid config {source}:"]
    for e in err.errors():
        loc = prefix + ".".join(str(p) for p in e["loc"]) or "(top level)"
        lines.append(f"  {loc}: {e['msg']}")
    return "\n".join(lines)
