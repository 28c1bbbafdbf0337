"""Load Parquet or CSV into predictions, labels or the reference, validating every row.

Rows that cannot be stored (no timestamp, a wrong type, a missing required column, a label
that is not 0/1) are counted by reason, recorded in the store and skipped, never silently.
NaN, inf and unseen categories are data: they are kept for the run's data-quality checks.
Predictions are keyed by request id and labels by their join key: a row already stored (or
repeated in the file) is counted as a duplicate and stored once. Column types come from the
config, not from the first file: every row read is loaded, rejected or a duplicate.
"""

from __future__ import annotations

import difflib
import hashlib
import uuid
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from monitor.config import ModelConfig
from monitor.config.common import check_table
from monitor.errors import IngestError
from monitor.pipeline import timestamps
from monitor.sql.bookkeeping import REJECTS_TABLE, known_ids_query, stored_labels_query
from monitor.sql.queries import Query
from monitor.stores.base import Store

Target = Literal["predictions", "labels", "reference"]
_CHUNK = 100_000
_NAN_TOKENS = {"", "nan", "NaN", "NAN", "null", "NULL", "None", "NA", "N/A"}
_TRUE = {"1", "1.0", "true", "True", "TRUE"}
_FALSE = {"0", "0.0", "false", "False", "FALSE"}
_IDS_PER_QUERY = 20_000  # ids looked up per query parameter (BigQuery caps a query's size)
DUPLICATE = "duplicate request id (stored once)"


@dataclass
class IngestReport:
    """What an ingest did: rows loaded, rows rejected by reason, and warnings (kept rows)."""

    target: str
    rows_read: int = 0
    rows_loaded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)
    duplicates: int = 0  # rows already stored, or repeated in the file: stored once, not rejected
    examples: dict[str, str] = field(default_factory=dict)  # reason -> the first offending value
    file: str = ""

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "file": self.file, "rows_read": self.rows_read,
                "rows_loaded": self.rows_loaded, "rows_rejected": self.rows_rejected,
                "rows_duplicate": self.duplicates, "rejected": dict(self.rejected),
                "examples": dict(self.examples), "warnings": dict(self.warnings)}

    def failure(self, max_rejected_share: float) -> str | None:
        """One line saying why this file failed (rejected whole, or beyond the share of its new rows), or None."""
        if self.rows_read == 0:
            return f"{self.file}: no rows in the file"
        if not self.rows_rejected:
            return None
        share = self.rows_rejected / max(self.rows_read - self.duplicates, 1)  # of the rows not already stored
        if self.rows_loaded and share <= max_rejected_share:
            return None
        reason, n = self.rejected.most_common(1)[0]
        example = f" e.g. {self.examples[reason]!r}" if reason in self.examples else ""
        hint = timestamps.HINTS.get(reason)
        what = ("every row rejected" if not self.rows_loaded and not self.duplicates
                else f"{share:.0%} of the new rows rejected > {max_rejected_share:.0%} allowed")
        dup = f", {self.duplicates:,} already stored" if self.duplicates else ""
        return (f"{self.file}: {self.rows_rejected:,} of {self.rows_read:,} rows rejected{dup} ({what}); "
                f"most: {reason} ({n:,}{example})" + (f"; {hint}" if hint else ""))


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if suffix not in (".csv", ".parquet", ".pq"):
        raise IngestError(f"{path}: only .csv and .parquet files can be ingested")
    if path.stat().st_size == 0:
        raise IngestError(f"{path}: the file is empty (0 bytes)")
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        if suffix == ".csv":
            # Everything as text first, so a wrong type is seen and counted rather than guessed.
            yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=_CHUNK)
        else:
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_CHUNK):
                yield batch.to_pandas()
    except UnicodeDecodeError:
        raise IngestError(f"{path}: not a text CSV file (it is binary, or not UTF-8)") from None
    except (pd.errors.ParserError, pd.errors.EmptyDataError, pa.ArrowException) as exc:
        kind = "CSV" if suffix == ".csv" else "Parquet"
        raise IngestError(f"{path}: not a readable {kind} file ({str(exc).splitlines()[0][:200]})") from None


def _numeric(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce to float; return (values, mask of rows whose text was not a number)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype(float), pd.Series(False, index=col.index)
    text = col.astype("string").str.strip()
    values = pd.to_numeric(text.replace({t: None for t in _NAN_TOKENS}), errors="coerce")
    is_missing = col.isna() | text.isin(_NAN_TOKENS)
    bad = values.isna() & ~is_missing
    return values.astype(float), bad


def _reject(frame: pd.DataFrame, mask: pd.Series, reason: str, report: IngestReport,
            rejects: list[pd.DataFrame], ts: pd.Series | None, raw: pd.Series | None = None) -> pd.DataFrame:
    n = int(mask.sum())
    if n:
        report.rejected[reason] += n
        if raw is not None and reason not in report.examples:
            report.examples[reason] = str(raw.loc[mask.index][mask].iloc[0])
        when = ts.loc[mask.index][mask] if ts is not None else pd.Series(pd.NaT, index=frame.index[mask])
        rejects.append(pd.DataFrame({"reason": reason, "ts": when.values}))
    return frame[~mask]


def _prepare_rows(cfg: ModelConfig, raw: pd.DataFrame, report: IngestReport, rejects: list[pd.DataFrame],
                  *, with_time: bool) -> pd.DataFrame:
    p = cfg.predictions
    frame = raw.copy()
    ts: pd.Series | None = None
    required = [p.request_id, p.timestamp] if with_time else []
    for col in required:
        if col not in frame.columns:
            return _reject(frame, pd.Series(True, index=frame.index), f"missing required column {col}",
                           report, rejects, None, _file_columns(frame, col))
    if with_time:
        raw_ts = frame[p.timestamp]
        ts, refused = timestamps.parse(raw_ts, p.timestamp_format, _NAN_TOKENS)
        frame[p.timestamp] = ts
        for reason, mask in refused.items():
            frame = _reject(frame, mask.loc[frame.index], reason, report, rejects, ts, raw_ts)
        ids = frame[p.request_id]
        frame = _reject(frame, ids.isna() | (ids.astype("string").str.strip() == ""), "missing request id",
                        report, rejects, ts)
        # Text columns typed by the config: a file without them must not make the column type NULL.
        frame[p.request_id] = frame[p.request_id].astype(str).astype("string")
        if p.model_column not in frame.columns:
            frame[p.model_column] = cfg.model
        frame[p.model_column] = frame[p.model_column].astype("string")
        if p.version_column not in frame.columns:
            frame[p.version_column] = pd.Series(pd.NA, index=frame.index, dtype="string")
            report.warnings[f"column missing: {p.version_column}"] += len(frame)
        else:
            frame[p.version_column] = frame[p.version_column].astype("string")
    numeric = [f.column or f.name for f in cfg.features if f.kind == "numerical" and not f.expr]
    numeric += [c for c in (cfg.prediction.probability,) if c]
    numeric += [c for c in _expression_columns(cfg) if c not in numeric]
    for col in numeric:
        if col not in frame.columns:
            # A feature column missing from the file is data quality, not a reason to lose the rows.
            frame[col] = np.nan
            report.warnings[f"column missing: {col}"] += len(frame)
            continue
        raw_col = frame[col]
        values, bad = _numeric(raw_col)
        frame[col] = values
        frame = _reject(frame, bad.loc[frame.index], f"wrong type in {col}", report, rejects, ts, raw_col)
    for f in cfg.features:
        col = f.column or f.name
        if f.kind == "categorical" and not f.expr:
            if col not in frame.columns:
                frame[col] = pd.Series(pd.NA, index=frame.index, dtype="string")
                report.warnings[f"column missing: {col}"] += len(frame)
            else:
                frame[col] = frame[col].astype("string")
    if cfg.prediction.class_column:
        col = cfg.prediction.class_column
        if col in frame.columns:
            raw_col = frame[col]
            values, bad = _numeric(raw_col)
            # A class is a whole number: 1.5, inf or 1e300 is a wrong type, not a class.
            bad |= values.notna() & ~(np.isfinite(values) & (values % 1 == 0) & (values.abs() < 2**53))
            frame[col] = values
            frame = _reject(frame, bad.loc[frame.index], f"wrong type in {col}", report, rejects, ts, raw_col)
            frame[col] = frame[col].astype("Int64")
        else:
            frame[col] = pd.array([None] * len(frame), dtype="Int64")
    return frame


def _file_columns(frame: pd.DataFrame, wanted: str) -> pd.Series:
    """The example shown for a missing column: the file's closest column name, or its columns."""
    names = [str(c) for c in frame.columns]
    close = difflib.get_close_matches(wanted, names, n=1, cutoff=0.6)
    text = f"closest column in the file: {close[0]}" if close else (
        "the file has: " + ", ".join(names[:6]) + (f", ... ({len(names)} columns)" if len(names) > 6 else ""))
    return pd.Series(text, index=frame.index)


def _expression_columns(cfg: ModelConfig) -> list[str]:
    """Columns read by numerical feature expressions: validated row by row like numeric features."""
    return list(dict.fromkeys(c for f in cfg.features if f.expr and f.kind == "numerical" for c in f.reads))


def _labels(cfg: ModelConfig, raw: pd.DataFrame, report: IngestReport, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    assert cfg.labels is not None
    key, col = cfg.labels.join_key, cfg.labels.column
    for c in (key, col):
        if c not in raw.columns:
            _reject(raw, pd.Series(True, index=raw.index), f"missing required column {c}", report, rejects, None,
                    _file_columns(raw, c))
            return pd.DataFrame({key: pd.Series(dtype="string"), col: pd.Series(dtype="int64"),
                                 "labelled_at": pd.Series(dtype="datetime64[ns]")})
    text = raw[col].astype("string").str.strip()
    label = pd.Series(np.where(text.isin(_TRUE), 1, np.where(text.isin(_FALSE), 0, -1)), index=raw.index)
    frame = raw.assign(**{col: label})
    missing_key = frame[key].isna() | (frame[key].astype("string").str.strip() == "").fillna(True)
    frame = _reject(frame, missing_key, "missing request id", report, rejects, None)
    frame = _reject(frame, frame[col] == -1, "label not 0/1", report, rejects, None, raw[col])
    frame[key] = frame[key].astype(str)
    dupes = int(frame.duplicated(key, keep="last").sum())
    if dupes:
        report.warnings["duplicate label (last one wins)"] += dupes
        report.duplicates += dupes
        frame = frame.drop_duplicates(key, keep="last")
    if "labelled_at" in frame.columns:
        when, _ = timestamps.parse(frame["labelled_at"], None, _NAN_TOKENS)
        frame["labelled_at"] = when.fillna(pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)))
    else:
        frame["labelled_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    return frame[[key, col, "labelled_at"]].assign(**{col: lambda f: f[col].astype("int64")})


def ingest(store: Store, cfg: ModelConfig, target: Target, path: str | Path, *,
           progress: Callable[[int], None] | None = None) -> IngestReport:
    """Validate a file row by row and append the good rows to the target table; `progress(n)` per chunk read."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    report = IngestReport(target=target, file=path.name)
    rejects: list[pd.DataFrame] = []
    table = {"predictions": cfg.predictions.table, "reference": cfg.reference_table,
             "labels": cfg.labels.table if cfg.labels else None}.get(target)
    if table is None:
        raise IngestError(f"cannot ingest {target!r}: choose predictions, labels or reference (labels need a labels: section)")
    check_table(table)
    seen_keys: set[str] = set()
    # Rows go to a staging table first and reach the target in one atomic merge at the end (with the
    # file's rejects): a killed ingest leaves nothing half-loaded, and a re-run loads what is missing.
    stage = f"_stage_{table.rsplit('.', 1)[-1]}_{uuid.uuid4().hex[:12]}"
    fingerprint = _fingerprint(path)
    loaded_key = f"ingested:{cfg.model}:{target}:{fingerprint}"
    if target == "reference" and store.get_state(loaded_key) is not None and store.exists(table):
        # The reference has no key to merge on: a file already loaded whole is not loaded twice.
        rows = sum(len(raw) for raw in _chunks(path))
        report.rows_read = report.duplicates = rows
        report.warnings["file already ingested into the reference (stored once)"] += rows
        return report
    staged = 0
    try:
        for raw in _chunks(path):
            report.rows_read += len(raw)
            if target == "labels" and cfg.labels is not None:
                _load_labels(store, cfg, table, raw, report, rejects, seen_keys)
            else:
                good = _prepare_rows(cfg, raw, report, rejects, with_time=target == "predictions")
                if target == "predictions":
                    good = _new_in_file(cfg, good, seen_keys, report)
                if len(good):
                    store.insert_frame(stage, _stored_columns(store, table, good, report).reset_index(drop=True))
                    staged += len(good)
            if progress is not None:
                progress(len(raw))  # also the tests' fault point: a kill here must lose and double nothing
        appends, state = _rejects_to_record(store, cfg, target, rejects, fingerprint, report)
        if target == "reference":
            state[loaded_key] = datetime.now(UTC).isoformat()
        if target != "labels":
            key = cfg.predictions.request_id if target == "predictions" else None
            inserted = store.merge_staged(table, stage, key, appends=appends, state=state,
                                          since_column=cfg.predictions.timestamp if target == "predictions" else None)
            report.rows_loaded += inserted
            if staged - inserted:
                report.duplicates += staged - inserted  # stored by an earlier ingest (or a concurrent one)
                report.warnings[DUPLICATE] += staged - inserted
        else:
            store.merge_staged(table, stage, None, appends=appends, state=state)
    finally:
        drop = getattr(store, "drop_table", None)
        if drop is not None:
            drop(stage)
    return report


def _load_labels(store: Store, cfg: ModelConfig, table: str, raw: pd.DataFrame, report: IngestReport,
                 rejects: list[pd.DataFrame], seen_keys: set[str]) -> None:
    """One chunk of labels, upserted at once (a re-run of the same labels changes nothing: they are duplicates)."""
    assert cfg.labels is not None
    key = cfg.labels.join_key
    good = _labels(cfg, raw, report, rejects)
    # Duplicates across chunks of one file: the later chunk wins, as within a chunk.
    dup_across = int(good[key].isin(seen_keys).sum())
    if dup_across:
        report.warnings["duplicate label (last one wins)"] += dup_across
        report.duplicates += dup_across
    seen_keys.update(good[key])
    good = _new_labels(store, cfg, table, good, report)
    if len(good):
        store.upsert_labels(table, good.reset_index(drop=True), key)
    report.rows_loaded += len(good)


def _rejects_to_record(store: Store, cfg: ModelConfig, target: str, rejects: list[pd.DataFrame], fingerprint: str,
                       report: IngestReport) -> tuple[list[tuple[str, pd.DataFrame]], dict[str, str]]:
    """The file's rejects (grouped) and the state key saying they are recorded, unless an earlier ingest did."""
    if not rejects:
        return [], {}
    # The same file's rejects are recorded once: a re-ingest must not double a run's rejected rows.
    key = f"rejects:{cfg.model}:{target}:{fingerprint}"
    if store.get_state(key) is not None:
        report.warnings["rejected rows already recorded by an earlier ingest of this file"] += report.rows_rejected
        return [], {}
    return [(REJECTS_TABLE, _grouped_rejects(cfg, target, rejects))], {key: datetime.now(UTC).isoformat()}


def _stored(store: Store, q_for: Callable[[list[str]], Query], ids: list[str]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for i in range(0, len(ids), _IDS_PER_QUERY):
        out += store.query(q_for(ids[i:i + _IDS_PER_QUERY]))
    return out


def _new_in_file(cfg: ModelConfig, good: pd.DataFrame, seen: set[str], report: IngestReport) -> pd.DataFrame:
    """The rows whose request id is not earlier in this file (those counted); stored ids are left to the merge."""
    key = cfg.predictions.request_id
    if good.empty:
        return good
    repeated = good[key].duplicated(keep="first") | good[key].isin(seen)
    seen.update(good[key])
    n = int(repeated.sum())
    if n:
        report.duplicates += n
        report.warnings[DUPLICATE] += n
    return good[~repeated]


def _new_labels(store: Store, cfg: ModelConfig, table: str, good: pd.DataFrame, report: IngestReport) -> pd.DataFrame:
    """Labels that are new or changed (a re-ingest of the same label is a duplicate); unknown ids counted per file."""
    assert cfg.labels is not None
    key, col = cfg.labels.join_key, cfg.labels.column
    ids = sorted(set(good[key]))
    if not ids:
        return good
    if store.exists(table):
        stored = {r["id"]: int(r["label"]) for r in _stored(store, lambda part: stored_labels_query(
            store.dialect, store.table(table), key, col, part), ids)}
        same = pd.Series([stored.get(k) == v for k, v in zip(good[key], good[col], strict=True)], index=good.index)
        if same.any():
            report.duplicates += int(same.sum())
            report.warnings["label already stored (unchanged)"] += int(same.sum())
            good = good[~same]
    predictions = cfg.predictions
    if store.exists(predictions.table):
        logged = {r["id"] for r in _stored(store, lambda part: known_ids_query(
            store.dialect, store.table(predictions.table), predictions.request_id, part,
            timestamp=predictions.timestamp), ids)}
        unknown = len(set(ids) - logged)
        if unknown:
            report.warnings["label for an unknown request id (kept)"] += unknown
    return good


def _stored_columns(store: Store, table: str, frame: pd.DataFrame, report: IngestReport) -> pd.DataFrame:
    """The frame without the file's extra columns that an existing table does not have (each warned once)."""
    getter = getattr(store, "columns", None)
    have = getter(table) if getter else {}
    extra = [c for c in frame.columns if have and c not in have]
    for c in extra:
        report.warnings[f"column not in table {table} (not stored): {c}"] += len(frame)
    return frame.drop(columns=extra)


def _fingerprint(path: Path) -> str:
    """The file's content hash, read in blocks (memory does not grow with the file)."""
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:32]


def _grouped_rejects(cfg: ModelConfig, target: str, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    frame = pd.concat(rejects, ignore_index=True)
    frame.insert(0, "model", cfg.model)
    frame.insert(1, "target", target)
    frame["ingested_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    # Rounded to the hour: the table grows with hours and reasons, not with rejected rows.
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.floor("h")
    return (frame.groupby(["model", "target", "reason", "ts", "ingested_at"], dropna=False)
            .size().reset_index(name="rows"))
