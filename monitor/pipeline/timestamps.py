"""Timestamps of an ingested file, never guessed.

A value is read as ISO 8601 (with an offset, or without one: then it is UTC), or as a number of
seconds, milliseconds or microseconds since 1970 told apart by magnitude, unless the config's
`predictions.timestamp_format` says which (`iso`, `epoch_s`, `epoch_ms`, `epoch_us`, or a strftime
pattern such as `%d/%m/%Y %H:%M`). Anything else is refused: `05/10/2026` is "ambiguous day/month"
(5 October or 10 May?), `13/10/2026` "not ISO 8601", each counted with an example.
"""

from __future__ import annotations

import re

import numpy as np
import pandas as pd

EPOCH_UNITS = {"epoch_s": "s", "epoch_ms": "ms", "epoch_us": "us"}
FORMATS = ("iso", *EPOCH_UNITS)
# Seconds since 1970 stay below 1e11 until the year 5138; milliseconds from 1973 on are above it.
_MAGNITUDES = ((1e11, "s"), (1e14, "ms"), (1e17, "us"))
_NUMBER = re.compile(r"^[+-]?\d+(\.\d*)?$")
_DAY_MONTH = re.compile(r"^\s*(\d{1,2})[/.-](\d{1,2})[/.-](\d{2}|\d{4})\b")
MISSING = "missing timestamp"
UNPARSEABLE = "unparseable timestamp"
AMBIGUOUS = "ambiguous day/month timestamp"
# What to do about each refusal: the ingest summary prints it beside the count and an example.
HINTS = {UNPARSEABLE: "use ISO 8601 or epoch seconds/ms/us, or set predictions.timestamp_format",
         AMBIGUOUS: "set predictions.timestamp_format, e.g. '%d/%m/%Y %H:%M'"}


def _naive_utc(values: pd.Series) -> pd.Series:
    if getattr(values.dt, "tz", None) is not None:
        return values.dt.tz_convert("UTC").dt.tz_localize(None)
    return values


def _epoch(numbers: pd.Series, unit: str | None) -> pd.Series:
    """Numbers since 1970 in `unit`, or in the unit each value's magnitude implies when unit is None."""
    out = pd.Series(pd.NaT, index=numbers.index, dtype="datetime64[ns]")
    finite = numbers.notna() & np.isfinite(numbers)
    if unit is not None:
        groups = [(finite, unit)]
    else:
        size, low, groups = numbers.abs(), 0.0, []
        for limit, u in _MAGNITUDES:
            groups.append((finite & (size >= low) & (size < limit), u))
            low = limit
    for mask, u in groups:
        if mask.any():
            out[mask] = pd.to_datetime(numbers[mask], unit=u, errors="coerce")
    return out


def parse(col: pd.Series, fmt: str | None, tokens: set[str]) -> tuple[pd.Series, dict[str, pd.Series]]:
    """Naive-UTC timestamps, and a mask per reason of the rows that have none (missing, refused)."""
    text = col.astype("string").str.strip()
    missing = col.isna() | text.isin(tokens).fillna(False)
    if pd.api.types.is_datetime64_any_dtype(col):
        values = _naive_utc(col)
        return values, {MISSING: missing, UNPARSEABLE: values.isna() & ~missing}
    values = pd.Series(pd.NaT, index=col.index, dtype="datetime64[ns]")
    present = text.where(~missing)
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        numeric = ~missing
        numbers = pd.to_numeric(col, errors="coerce").astype(float)
    else:
        numeric = present.str.fullmatch(_NUMBER.pattern).fillna(False).astype(bool)
        numbers = pd.to_numeric(present.where(numeric), errors="coerce").astype(float)
    if fmt is None or fmt in EPOCH_UNITS:
        values[numeric] = _epoch(numbers[numeric], EPOCH_UNITS.get(fmt or ""))
    # An explicit strftime pattern reads every value; "iso" reads the numbers as refused ones.
    rest = ~missing & ~numeric if fmt is None or fmt in EPOCH_UNITS else ~missing
    if fmt in EPOCH_UNITS:
        rest = pd.Series(False, index=col.index)
    if rest.any():
        if fmt is None or fmt == "iso":
            parsed = pd.to_datetime(present[rest], format="ISO8601", utc=True, errors="coerce")
        else:
            parsed = pd.to_datetime(present[rest], format=fmt, utc=True, errors="coerce")
        values[rest] = _naive_utc(parsed)
    failed = values.isna() & ~missing
    ambiguous = pd.Series(False, index=col.index)
    if fmt is None or fmt == "iso":
        parts = present[failed].str.extract(_DAY_MONTH.pattern)
        if len(parts):
            a, b = pd.to_numeric(parts[0], errors="coerce"), pd.to_numeric(parts[1], errors="coerce")
            ambiguous.loc[parts.index] = ((a <= 12) & (b <= 12) & (a >= 1) & (b >= 1)).fillna(False).astype(bool)
    return values, {MISSING: missing, AMBIGUOUS: ambiguous, UNPARSEABLE: failed & ~ambiguous}
