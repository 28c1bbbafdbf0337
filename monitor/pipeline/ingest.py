"""Load Parquet or CSV into predictions, labels or the reference, validating every row.

Rows that cannot be stored (no timestamp, a wrong type, a missing required column, a label
that is not 0/1) are counted by reason, recorded in the store and skipped, never silently.
NaN, inf and unseen categories are data: they are kept for the run's data-quality checks.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

import numpy as np
import pandas as pd

from monitor.config import ModelConfig
from monitor.config.common import check_table
from monitor.errors import IngestError
from monitor.sql.bookkeeping import REJECTS_TABLE, unknown_labels_query
from monitor.stores.base import Store

Target = Literal["predictions", "labels", "reference"]
_CHUNK = 100_000
_NAN_TOKENS = {"", "nan", "NaN", "NAN", "null", "NULL", "None", "NA", "N/A"}
_TRUE = {"1", "1.0", "true", "True", "TRUE"}
_FALSE = {"0", "0.0", "false", "False", "FALSE"}


@dataclass
class IngestReport:
    """What an ingest did: rows loaded, rows rejected by reason, and warnings (kept rows)."""

    target: str
    rows_read: int = 0
    rows_loaded: int = 0
    rejected: Counter[str] = field(default_factory=Counter)
    warnings: Counter[str] = field(default_factory=Counter)

    @property
    def rows_rejected(self) -> int:
        return sum(self.rejected.values())

    def as_dict(self) -> dict[str, object]:
        return {"target": self.target, "rows_read": self.rows_read, "rows_loaded": self.rows_loaded,
                "rows_rejected": self.rows_rejected, "rejected": dict(self.rejected),
                "warnings": dict(self.warnings)}


def _chunks(path: Path) -> Iterator[pd.DataFrame]:
    suffix = path.suffix.lower()
    if suffix == ".csv":
        # Everything as text first, so a wrong type is seen and counted rather than guessed.
        yield from pd.read_csv(path, dtype=str, keep_default_na=False, chunksize=_CHUNK)
    elif suffix in (".parquet", ".pq"):
        import pyarrow.parquet as pq

        for batch in pq.ParquetFile(path).iter_batches(batch_size=_CHUNK):
            yield batch.to_pandas()
    else:
        raise IngestError(f"{path}: only .csv and .parquet files can be ingested")


def _numeric(col: pd.Series) -> tuple[pd.Series, pd.Series]:
    """Coerce to float; return (values, mask of rows whose text was not a number)."""
    if pd.api.types.is_numeric_dtype(col) and not pd.api.types.is_bool_dtype(col):
        return col.astype(float), pd.Series(False, index=col.index)
    text = col.astype("string").str.strip()
    values = pd.to_numeric(text.replace({t: None for t in _NAN_TOKENS}), errors="coerce")
    is_missing = col.isna() | text.isin(_NAN_TOKENS)
    bad = values.isna() & ~is_missing
    return values.astype(float), bad


def _timestamps(col: pd.Series) -> tuple[pd.Series, pd.Series, pd.Series]:
    """Parse to naive UTC; return (values, missing mask, unparseable mask)."""
    text_missing = col.isna() | col.astype("string").str.strip().isin(_NAN_TOKENS)
    parsed = pd.to_datetime(col.where(~text_missing), errors="coerce", utc=True, format="mixed")
    bad = parsed.isna() & ~text_missing
    return parsed.dt.tz_convert("UTC").dt.tz_localize(None), text_missing, bad


def _reject(frame: pd.DataFrame, mask: pd.Series, reason: str, report: IngestReport,
            rejects: list[pd.DataFrame], ts: pd.Series | None) -> pd.DataFrame:
    n = int(mask.sum())
    if n:
        report.rejected[reason] += n
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
                           report, rejects, None)
    if with_time:
        ts, missing, bad = _timestamps(frame[p.timestamp])
        frame[p.timestamp] = ts
        frame = _reject(frame, missing, "missing timestamp", report, rejects, ts)
        frame = _reject(frame, bad.loc[frame.index], "unparseable timestamp", report, rejects, ts)
        ids = frame[p.request_id]
        frame = _reject(frame, ids.isna() | (ids.astype("string").str.strip() == ""), "missing request id",
                        report, rejects, ts)
        frame[p.request_id] = frame[p.request_id].astype(str)
        if p.model_column not in frame.columns:
            frame[p.model_column] = cfg.model
        if p.version_column not in frame.columns:
            frame[p.version_column] = None
            report.warnings[f"column missing: {p.version_column}"] += len(frame)
    numeric = [f.column or f.name for f in cfg.features if f.kind == "numerical" and not f.expr]
    numeric += [c for c in (cfg.prediction.probability,) if c]
    numeric += [c for c in _expression_columns(cfg) if c not in numeric]
    for col in numeric:
        if col not in frame.columns:
            # A feature column missing from the file is data quality, not a reason to lose the rows.
            frame[col] = np.nan
            report.warnings[f"column missing: {col}"] += len(frame)
            continue
        values, bad = _numeric(frame[col])
        frame[col] = values
        frame = _reject(frame, bad.loc[frame.index], f"wrong type in {col}", report, rejects, ts)
    for f in cfg.features:
        col = f.column or f.name
        if f.kind == "categorical" and not f.expr:
            if col not in frame.columns:
                frame[col] = None
                report.warnings[f"column missing: {col}"] += len(frame)
            else:
                frame[col] = frame[col].astype("string").where(frame[col].notna(), None).astype(object)
    if cfg.prediction.class_column:
        col = cfg.prediction.class_column
        if col in frame.columns:
            values, bad = _numeric(frame[col])
            frame[col] = values
            frame = _reject(frame, bad.loc[frame.index], f"wrong type in {col}", report, rejects, ts)
            frame[col] = frame[col].astype("Int64")
        else:
            frame[col] = pd.array([None] * len(frame), dtype="Int64")
    return frame


def _expression_columns(cfg: ModelConfig) -> list[str]:
    """Columns read by numerical feature expressions: validated row by row like numeric features."""
    return list(dict.fromkeys(c for f in cfg.features if f.expr and f.kind == "numerical" for c in f.reads))


def _labels(cfg: ModelConfig, raw: pd.DataFrame, report: IngestReport, rejects: list[pd.DataFrame]) -> pd.DataFrame:
    assert cfg.labels is not None
    key, col = cfg.labels.join_key, cfg.labels.column
    for c in (key, col):
        if c not in raw.columns:
            return _reject(raw, pd.Series(True, index=raw.index), f"missing required column {c}", report, rejects, None)
    text = raw[col].astype("string").str.strip()
    label = pd.Series(np.where(text.isin(_TRUE), 1, np.where(text.isin(_FALSE), 0, -1)), index=raw.index)
    frame = raw.assign(**{col: label})
    frame = _reject(frame, frame[key].isna(), "missing request id", report, rejects, None)
    frame = _reject(frame, frame[col] == -1, "label not 0/1", report, rejects, None)
    frame[key] = frame[key].astype(str)
    dupes = int(frame.duplicated(key, keep="last").sum())
    if dupes:
        report.warnings["duplicate label (last one wins)"] += dupes
        frame = frame.drop_duplicates(key, keep="last")
    if "labelled_at" in frame.columns:
        when, _, _ = _timestamps(frame["labelled_at"])
        frame["labelled_at"] = when.fillna(pd.Timestamp(datetime.now(UTC).replace(tzinfo=None)))
    else:
        frame["labelled_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    return frame[[key, col, "labelled_at"]].assign(**{col: lambda f: f[col].astype("int64")})


def ingest(store: Store, cfg: ModelConfig, target: Target, path: str | Path) -> IngestReport:
    """Validate a file row by row and append the good rows to the target table."""
    path = Path(path)
    if not path.exists():
        raise IngestError(f"{path}: no such file")
    report = IngestReport(target=target)
    rejects: list[pd.DataFrame] = []
    table = {"predictions": cfg.predictions.table, "reference": cfg.reference_table,
             "labels": cfg.labels.table if cfg.labels else None}.get(target)
    if table is None:
        raise IngestError(f"cannot ingest {target!r}: choose predictions, labels or reference (labels need a labels: section)")
    check_table(table)
    seen_label_keys: set[str] = set()
    for raw in _chunks(path):
        report.rows_read += len(raw)
        if target == "labels" and cfg.labels is not None:
            key = cfg.labels.join_key
            good = _labels(cfg, raw, report, rejects)
            # Duplicates across chunks of one file: the later chunk wins, as within a chunk.
            dup_across = int(good[key].isin(seen_label_keys).sum())
            if dup_across:
                report.warnings["duplicate label (last one wins)"] += dup_across
            seen_label_keys.update(good[key])
            if len(good):
                store.upsert_labels(table, good, key)
        else:
            good = _prepare_rows(cfg, raw, report, rejects, with_time=target == "predictions")
            if len(good):
                store.insert_frame(table, good.reset_index(drop=True))
        report.rows_loaded += len(good)
    if target == "labels" and cfg.labels is not None and store.exists(cfg.predictions.table) and store.exists(table):
        _count_unknown_labels(store, cfg, table, report)
    _record_rejects(store, cfg, target, rejects)
    return report


def _count_unknown_labels(store: Store, cfg: ModelConfig, table: str, report: IngestReport) -> None:
    assert cfg.labels is not None
    q = unknown_labels_query(store.dialect, store.table(table), store.table(cfg.predictions.table),
                             timestamp=cfg.predictions.timestamp, request_id=cfg.predictions.request_id,
                             join_key=cfg.labels.join_key)
    n = int(store.query(q)[0]["n"])
    if n:
        report.warnings["label for an unknown request id (kept)"] = n


def _record_rejects(store: Store, cfg: ModelConfig, target: str, rejects: list[pd.DataFrame]) -> None:
    if not rejects:
        return
    frame = pd.concat(rejects, ignore_index=True)
    frame.insert(0, "model", cfg.model)
    frame.insert(1, "target", target)
    frame["ingested_at"] = pd.Timestamp(datetime.now(UTC).replace(tzinfo=None))
    # Rounded to the hour: the table grows with hours and reasons, not with rejected rows.
    frame["ts"] = pd.to_datetime(frame["ts"]).dt.floor("h")
    grouped = (frame.groupby(["model", "target", "reason", "ts", "ingested_at"], dropna=False)
               .size().reset_index(name="rows"))
    store.insert_frame(REJECTS_TABLE, grouped)
