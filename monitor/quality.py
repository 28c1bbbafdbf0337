"""Data-quality verdicts, separate from drift: nulls, out-of-range values, unseen categories,
the schema of the logs against the reference, and the window's volume.

Each rate is tested against what the reference itself implies (its own null rate; the chance
that a value from the same distribution falls outside the reference's min/max; the reference's
share of rare categories), plus a practical floor, with a one-sided binomial test at the run's
level, so a clean window rarely raises a data-quality problem and a real one is not missed
because the window is large.
"""

from __future__ import annotations

from collections.abc import Mapping

from pydantic import BaseModel, Field
from scipy import stats as sps

from monitor.schema.profile import CategoricalProfile, NumericProfile, WindowProfile

NULL_FLOOR = 0.01  # one point more nulls than the reference before it is a problem
RANGE_FLOOR = 0.005
UNSEEN_FLOOR = 0.005
_PREDICTION_COLUMNS = ("__prediction", "__predicted_class")  # monitor.sql.profiler's names
CONSTANT_MIN_ROWS = 30  # fewer values than this may be equal by chance: no "constant" verdict
_NUMERIC = ("int", "float", "double", "decimal", "numeric", "real", "bigint", "smallint", "tinyint", "hugeint")


class QualityCheck(BaseModel):
    """One data-quality verdict."""

    check: str  # null_rate | out_of_range_rate | constant | unseen_rate | schema | volume
    subject: str
    value: float | None
    threshold: float | None
    status: str  # ok | problem
    detail: str = ""


class QualityReport(BaseModel):
    """Every data-quality verdict of a run, and the schema comparison."""

    checks: list[QualityCheck] = Field(default_factory=list)
    missing_columns: list[str] = Field(default_factory=list)
    added_columns: list[str] = Field(default_factory=list)
    type_changes: dict[str, str] = Field(default_factory=dict)

    @property
    def problems(self) -> list[QualityCheck]:
        return [c for c in self.checks if c.status == "problem"]


def _rate_check(check: str, subject: str, hits: int, n: int, expected: float, floor: float,
                alpha: float) -> QualityCheck:
    """Problem when the rate is confidently above expected + floor (one-sided binomial test)."""
    limit = min(expected + floor, 1.0)
    if n == 0:
        return QualityCheck(check=check, subject=subject, value=None, threshold=limit, status="ok",
                            detail="no rows")
    p = float(sps.binom.sf(hits - 1, n, limit)) if hits else 1.0
    return QualityCheck(check=check, subject=subject, value=hits / n, threshold=limit,
                        status="problem" if p <= alpha else "ok", detail=f"{hits} of {n} rows (p={p:.2g})")


def missing(p: NumericProfile | CategoricalProfile) -> int:
    """NULL (or NaN) values: the one null-rate definition. Infinite values are counted apart (`infinite`)."""
    return p.nulls


def null_rate(p: NumericProfile | CategoricalProfile) -> float:
    """missing(p) as a share of the window's rows."""
    return missing(p) / max(p.count, 1)


def out_of_range(p: NumericProfile) -> int:
    """Values outside the reference's min..max, infinities included: the one out-of-range definition."""
    return p.below_range + p.above_range + p.infinite


def out_of_range_rate(p: NumericProfile | CategoricalProfile) -> float:
    """out_of_range(p) as a share of the window's rows (0 for categorical features)."""
    return out_of_range(p) / max(p.count, 1) if isinstance(p, NumericProfile) else 0.0


def _constant(name: str, ref: NumericProfile, cur: NumericProfile) -> QualityCheck | None:
    """Constant where the reference varies (a stuck sensor), or changed where the reference is constant."""
    if cur.min is None or cur.max is None or ref.min is None or ref.max is None or cur.valid < CONSTANT_MIN_ROWS:
        return None
    if cur.min == cur.max and ref.min < ref.max:
        return QualityCheck(check="constant", subject=name, value=cur.min, threshold=None, status="problem",
                            detail=f"every value is {cur.min:.6g}; the reference ranges {ref.min:.6g} to {ref.max:.6g}")
    if ref.min == ref.max and (cur.min != ref.min or cur.max != ref.max):
        return QualityCheck(check="constant", subject=name, value=cur.max if cur.max != ref.max else cur.min,
                            threshold=ref.min, status="problem",
                            detail=f"values {cur.min:.6g} to {cur.max:.6g}; the reference is constant at {ref.min:.6g}")
    return None


def _family(t: str) -> str:
    t = t.lower()
    return "number" if any(k in t for k in _NUMERIC) else ("text" if "char" in t or "string" in t else t)


def assess(reference: WindowProfile, window: WindowProfile, *, alpha: float,
           window_columns: Mapping[str, str] | None = None, reference_columns: Mapping[str, str] | None = None,
           monitored: tuple[str, ...] = (), expected_rows: int | None = None,
           volume_tolerance: float = 0.5) -> QualityReport:
    """Data-quality verdicts of a window against the reference."""
    out = QualityReport()
    for name, cur in window.features.items():
        ref = reference.features.get(name)
        if name in _PREDICTION_COLUMNS and ref is not None and ref.valid and cur.count and cur.nulls == cur.count:
            # The prediction columns are not data quality, but a wholly NULL one is a wrong column name
            # (not the label: a window's labels may simply not have arrived yet).
            what = name.strip("_")
            out.checks.append(QualityCheck(check="null_rate", subject=what, value=1.0, threshold=None,
                                           status="problem", detail=f"wholly NULL: no {what} in {cur.count} rows; "
                                           "check the prediction: section (`driftline check`)"))
        if ref is None or name.startswith("__"):
            continue
        n_ref = max(ref.count, 1)
        nulls = _rate_check("null_rate", name, missing(cur), cur.count, missing(ref) / n_ref, NULL_FLOOR, alpha)
        if cur.count and cur.nulls == cur.count:
            nulls.detail = f"wholly NULL: no value in {cur.count} rows; " + nulls.detail  # never reads as fine
        out.checks.append(nulls)
        if isinstance(cur, NumericProfile) and isinstance(ref, NumericProfile):
            # A value from the reference's own distribution falls outside its min..max with
            # probability about 2 / (N + 1).
            out.checks.append(_rate_check("out_of_range_rate", name, out_of_range(cur), cur.count,
                                          2.0 / (ref.valid + 1), RANGE_FLOOR, alpha))
            constant = _constant(name, ref, cur)
            if constant is not None:
                out.checks.append(constant)
        elif isinstance(cur, CategoricalProfile) and isinstance(ref, CategoricalProfile):
            unseen = _rate_check("unseen_rate", name, cur.unseen, cur.count, 1.0 / (ref.valid + 1), UNSEEN_FLOOR, alpha)
            if cur.unseen_values:
                unseen.detail += "; e.g. " + ", ".join(cur.unseen_values[:3])
            out.checks.append(unseen)
    if window_columns is not None and reference_columns is not None:
        wanted = set(monitored) or set(reference_columns)
        out.missing_columns = sorted(c for c in wanted if c in reference_columns and c not in window_columns)
        out.added_columns = sorted(set(window_columns) - set(reference_columns))
        out.type_changes = {c: f"{reference_columns[c]} -> {window_columns[c]}" for c in sorted(wanted)
                            if c in reference_columns and c in window_columns
                            and _family(reference_columns[c]) != _family(window_columns[c])}
        for c in out.missing_columns:
            out.checks.append(QualityCheck(check="schema", subject=c, value=None, threshold=None, status="problem",
                                           detail="column missing from the logs"))
        for c, change in out.type_changes.items():
            out.checks.append(QualityCheck(check="schema", subject=c, value=None, threshold=None, status="problem",
                                           detail=f"type changed: {change}"))
    if window.rows == 0:
        # No data is the most common failure there is: never green, with or without an expected count.
        out.checks.append(QualityCheck(check="volume", subject="window", value=0.0,
                                       threshold=float(expected_rows) if expected_rows else None, status="problem",
                                       detail="no rows in the window" + (f", expected {expected_rows}"
                                                                         if expected_rows else "")))
    elif expected_rows:
        deviation = abs(window.rows / expected_rows - 1.0)
        out.checks.append(QualityCheck(check="volume", subject="window", value=float(window.rows),
                                       threshold=float(expected_rows),
                                       status="problem" if deviation > volume_tolerance else "ok",
                                       detail=f"{window.rows} rows, expected {expected_rows} (off by {deviation:.0%})"))
    return out


def type_family(t: str) -> str:
    """A column type as 'number', 'text' or itself (DuckDB and BigQuery spell numbers differently)."""
    return _family(t)
