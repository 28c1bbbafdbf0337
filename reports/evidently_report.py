"""Evidently 0.7 reports on bounded samples of the window and the reference.

Driftline's verdicts come from full-data SQL profiles; this report is for the visuals and is
built on at most `sample_rows` rows of each side, which the page states.
"""

from __future__ import annotations

import contextlib
import logging
import warnings
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

log = logging.getLogger(__name__)


def error_path(path: Path) -> Path:
    """Where a failed build leaves its reason, beside where the report would have been."""
    return path.with_name(path.stem + ".error.txt")


def build_report(
    current: pd.DataFrame,
    reference: pd.DataFrame,
    *,
    numerical: Sequence[str],
    categorical: Sequence[str],
    path: Path,
    target: str | None = None,
    prediction: str | None = None,
    probability: str | None = None,
    title: str = "",
) -> Path | None:
    """Write an Evidently HTML report (data drift; classification quality when labels exist)."""
    from evidently import BinaryClassification, DataDefinition, Dataset, Report
    from evidently.presets import ClassificationPreset, DataDriftPreset

    cols = [*numerical, *categorical]
    classification = None
    metrics: list[object] = [DataDriftPreset(columns=list(cols))]
    labelled = (
        target is not None and target in current and current[target].notna().sum() >= 10
        and prediction is not None
    )
    if labelled:
        classification = [BinaryClassification(target=target, prediction_labels=prediction,
                                               prediction_probas=None, pos_label=1)]
        metrics.append(ClassificationPreset())

    def dataset(frame: pd.DataFrame) -> Dataset:
        frame = frame.copy()
        for c in categorical:
            frame[c] = frame[c].astype("string").astype(object)
        if labelled:
            frame = frame[frame[target].notna()].copy() if frame is not reference else frame
            frame[target] = frame[target].astype(int)
            frame[prediction] = frame[prediction].astype(int)
        definition = DataDefinition(numerical_columns=list(numerical), categorical_columns=list(categorical),
                                    classification=classification)
        return Dataset.from_pandas(frame, data_definition=definition)

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            snapshot = Report(metrics, metadata={"title": f"Evidently's own tests on a bounded sample: {title}"}).run(dataset(current), dataset(reference))
            path.parent.mkdir(parents=True, exist_ok=True)
            snapshot.save_html(str(path))
    except Exception as exc:  # noqa: BLE001 - a failed visual must never fail the run's verdicts
        log.warning("Evidently report failed: %s", exc)
        with contextlib.suppress(OSError):  # the page shows why there is no report
            path.parent.mkdir(parents=True, exist_ok=True)
            error_path(path).write_text(f"{type(exc).__name__}: {exc}"[:500])
        return None
    return path
