"""A seeded simulator of the first user's model: a robotic wheel-assembly cell.

Each assembly is a window of 10 time steps x 8 signals (step index, z position, force X/Y/Z,
torque X/Y/Z). The served LSTM logs per-signal aggregates (mean, std, min, max, last), the
tire type, and its probability that the tire was mounted correctly (label 1; defects are 0).
The defect rate (about 18%) is taken from the real label file of the project
(monitor/demo/data/FT_dataset_labels.csv, 18 of 100 assemblies). Labels arrive from the lab days later.

Scenarios switch on by day (the first days are unchanged) with an intensity per day, so a
demo week shows an incident open (warn), escalate (critical) and resolve.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from importlib import resources

import numpy as np
import pandas as pd

from monitor.demo.scenarios import SCENARIOS, Scenario

SIGNALS = ("step", "z", "fx", "fy", "fz", "tx", "ty", "tz")
AGGREGATES = ("mean", "std", "min", "max", "last")
TIRE_TYPES = ("R16-standard", "R17-standard", "R15-standard", "R17-sport", "R16-winter")
TIRE_SHARES = (0.38, 0.27, 0.17, 0.12, 0.06)
# Per-step means of the physical signals over the 10 steps of a mount (press moves down, load rises).
_PROFILE = np.linspace(0.0, 1.0, 10)
_BASE = {
    "z": 320.0 - 260.0 * _PROFILE,
    "fx": 4.0 + 6.0 * np.sin(np.pi * _PROFILE),
    "fy": -3.0 + 5.0 * np.sin(np.pi * _PROFILE),
    "fz": -20.0 - 180.0 * _PROFILE**1.5,
    "tx": 0.4 + 1.2 * _PROFILE,
    "ty": -0.3 + 0.9 * _PROFILE,
    "tz": 0.5 + 2.5 * _PROFILE**2,
}
_NOISE = {"z": 2.0, "fx": 1.5, "fy": 1.5, "fz": 6.0, "tx": 0.12, "ty": 0.1, "tz": 0.2}


def defect_rate() -> float:
    """The share of defects in the project's real label file (False = defect)."""
    text = resources.files("monitor.demo.data").joinpath("FT_dataset_labels.csv").read_text()
    labels = [line.split(",")[1].strip() for line in text.splitlines()[1:] if line.strip()]
    return sum(v == "False" for v in labels) / len(labels)


def _intensity(s: Scenario, day: int) -> float:
    return float(s.intensity[min(day, len(s.intensity) - 1)])


def assemblies(n: int, rng: np.random.Generator, *, scenario: str = "none", level: float = 0.0) -> pd.DataFrame:
    """n simulated assemblies: the logged aggregates, tire type, model probability and true label."""
    seq = np.empty((n, 10, len(SIGNALS)))
    end = rng.integers(880, 1001, size=n)
    if scenario == "step_out_of_range" and level:
        end = end + (rng.random(n) < 0.3 * level) * rng.integers(100, 400, size=n)
    seq[:, :, 0] = np.round(_PROFILE[None, :] * end[:, None])
    tire = rng.choice(len(TIRE_TYPES), size=n, p=TIRE_SHARES)
    tire_names = np.array(TIRE_TYPES, dtype=object)[tire]
    # A latent mounting quality drives both the signals and the defects.
    quality = rng.normal(size=n)
    shifted = scenario in ("new_tire_batch", "covariate_shift") and level > 0
    for j, name in enumerate(SIGNALS[1:], start=1):
        amp = 1.0 + 0.03 * rng.normal(size=n)
        seq[:, :, j] = _BASE[name][None, :] * amp[:, None] + rng.normal(0, _NOISE[name], size=(n, 10))
    seq[:, :, 4] += (8.0 * quality)[:, None] * _PROFILE[None, :]  # fz tracks quality
    seq[:, :, 7] -= (0.25 * quality)[:, None] * _PROFILE[None, :] ** 2  # tz eases as quality rises
    if shifted:
        # Harder tire compound: more press force and torque at the end of the mount.
        k = level * (0.5 if scenario == "covariate_shift" else 1.0)
        seq[:, :, 4] -= k * 18.0 * _PROFILE[None, :]
        seq[:, :, 7] += k * 0.45 * _PROFILE[None, :] ** 2
        if scenario == "new_tire_batch":
            new = rng.random(n) < 0.06 * level
            tire_names = np.where(new, "R18-eco", tire_names)
    if scenario == "noisy_sensor" and level:
        seq[:, :, 3] += rng.normal(0, 3.0 * _NOISE["fy"] * level, size=(n, 10))
    frame = _aggregate(seq)
    if scenario == "stuck_channel" and level:
        stuck = rng.random(n) < min(1.0, 0.5 * level)
        for agg in AGGREGATES:
            frame.loc[stuck, f"tx_{agg}"] = 0.0  # a stuck channel reads a constant
        if level >= 2:
            frame.loc[stuck, [f"tx_{a}" for a in AGGREGATES]] = np.nan
    frame["tire_type"] = tire_names
    # True defect process: the base rate from the real labels, a function of the observed
    # end-of-mount force and torque only, so a change of inputs alone is a pure covariate shift.
    signal = _signal(frame)
    base = np.log(defect_rate() / (1 - defect_rate())) * np.sqrt(1 + np.pi * 1.6**2 / 8)
    risk = base - 1.6 * signal
    if scenario == "concept_drift" and level:
        # Same inputs, new relation: the signal says less and a new failure mode appears.
        risk = base - 1.6 * (1 - 0.8 * level) * signal + 0.9 * level
    p_defect = 1 / (1 + np.exp(-risk))
    frame["label"] = (rng.random(n) >= p_defect).astype(int)  # 1 = mounted correctly
    frame["probability"] = _model(frame, scenario == "model_swap" and level > 0)
    frame["predicted_class"] = (frame["probability"] >= 0.5).astype(int)
    return frame


def _aggregate(seq: np.ndarray) -> pd.DataFrame:
    cols: dict[str, np.ndarray] = {}
    for j, name in enumerate(SIGNALS):
        x = seq[:, :, j]
        cols.update({f"{name}_mean": x.mean(1), f"{name}_std": x.std(1), f"{name}_min": x.min(1),
                     f"{name}_max": x.max(1), f"{name}_last": x[:, -1]})
    return pd.DataFrame(cols)


def _signal(frame: pd.DataFrame) -> np.ndarray:
    """The standardised end-of-mount evidence of a good mount (the relation the model learned)."""
    fz = (frame["fz_last"].fillna(-200.0).to_numpy() + 200.0) / 8.0
    tz = (frame["tz_last"].fillna(3.0).to_numpy() - 3.0) / 0.25
    return (fz - tz) / 2.6


def _model(frame: pd.DataFrame, swapped: bool) -> np.ndarray:
    """A stand-in for the LSTM: P(correct mount) from force and torque at the end of the mount."""
    fz = (frame["fz_last"].fillna(-200.0) + 200.0) / 8.0
    tz = (frame["tz_last"].fillna(3.0) - 3.0) / 0.25
    base = np.log((1 - defect_rate()) / defect_rate())
    logit = base + 0.75 * fz.to_numpy() - 0.75 * tz.to_numpy()
    if swapped:
        logit = 0.45 * logit + 1.2  # another version: flatter and over-confident in "correct"
    return 1 / (1 + np.exp(-np.clip(logit, -30, 30)))


def reference(n: int = 10_000, seed: int = 7) -> pd.DataFrame:
    """The training/validation reference: unchanged traffic with labels."""
    return assemblies(n, np.random.default_rng(seed))


def traffic(days: int, per_day: int, start: datetime, *, scenario: str = "new_tire_batch",
            seed: int = 11, model: str = "wheel-assembly") -> tuple[pd.DataFrame, pd.DataFrame]:
    """Prediction logs for `days` days from `start`, and the labels with their arrival times."""
    if scenario not in SCENARIOS:
        raise KeyError(f"unknown scenario {scenario!r}; choose one of {sorted(SCENARIOS)}")
    rng = np.random.default_rng(seed)
    frames = []
    for day in range(days):
        level = _intensity(SCENARIOS[scenario], day)
        f = assemblies(per_day, rng, scenario=scenario, level=level)
        seconds = np.sort(rng.uniform(0, 86_400, size=per_day))
        f.insert(0, "ts", [start + timedelta(days=day, seconds=float(s)) for s in seconds])
        f.insert(0, "request_id", [f"{model}-{day:02d}-{i:06d}" for i in range(per_day)])
        f.insert(2, "model_name", model)
        f.insert(3, "model_version", "v2" if scenario == "model_swap" and level else "v1")
        frames.append(f)
    logs = pd.concat(frames, ignore_index=True)
    delay = pd.to_timedelta(rng.uniform(1.5, 4.0, size=len(logs)), unit="D")
    labels = pd.DataFrame({"request_id": logs["request_id"], "label": logs["label"],
                           "labelled_at": logs["ts"] + delay})
    return logs.drop(columns=["label"]), labels


def feature_names(signals: Sequence[str] = SIGNALS) -> list[str]:
    """Every logged aggregate column."""
    return [f"{s}_{a}" for s in signals for a in AGGREGATES]
