"""The detection benchmark's data: features, scenarios and the seeded draws (numpy and pandas only).

Kept free of Driftline imports so that bench/detection_nannyml.py can draw the very same windows
inside NannyML's own virtual environment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

REF_ROWS = 20_000
SIZES = (500, 2_000, 5_000, 50_000)
NUMERIC = ("normal", "normal_b", "lognormal", "bimodal", "heavy_tailed", "uniform", "step", "spend", "count")
CATEGORICAL = {"cat3": 3, "cat10": 10, "cat50": 50, "flag": 2, "cat8": 8}
FEATURES: list[tuple[str, str]] = [(n, "numerical") for n in NUMERIC] + [(c, "categorical") for c in CATEGORICAL]
REF_RHO = 0.5  # correlation of normal and normal_b in the reference
FLAG_RATE = 0.03  # the rare binary flag's rate in the reference
SPEND_ZEROS = 0.60  # the zero-inflated feature's share of exact zeros
COUNT_RATE = 3.0  # the count feature's Poisson rate
CAT8_TARGET = 2  # the category of cat8 that gains share (holds ~13% in the reference)


def cat_probs(levels: int) -> np.ndarray:
    """Skewed (Zipf-like) level shares; 3 levels are 0.6 / 0.3 / 0.1."""
    if levels == 3:
        return np.array([0.6, 0.3, 0.1])
    if levels == 2:
        return np.array([1 - FLAG_RATE, FLAG_RATE])
    w = 1.0 / np.arange(1, levels + 1) ** 1.1
    return w / w.sum()


# (mean, std) of each numerical shape, so shifts are in reference standard deviations
_LN_S = 0.75
MOMENTS = {
    "normal": (0.0, 1.0),
    "normal_b": (0.0, 1.0),
    "lognormal": (math.exp(_LN_S**2 / 2), math.sqrt((math.exp(_LN_S**2) - 1) * math.exp(_LN_S**2))),
    "bimodal": (0.0, math.sqrt(1 + 4)),
    "heavy_tailed": (0.0, math.sqrt(3.0)),
    "uniform": (0.5, math.sqrt(1 / 12)),
    "step": (500.0, math.sqrt((1001**2 - 1) / 12)),
}


@dataclass(frozen=True)
class Scenario:
    """One change applied to the windows: what, to which feature, how much."""

    name: str
    change: str  # none | shift | scale | top_share | unseen | correlation | flag | zeros | gain | rate
    target: str = ""
    amount: float = 0.0
    power: bool = True  # counted as power (False: a change below the floor, counted as false alarms)
    new: bool = False  # one of issue 17's kinds (pooled power)


MAIN = [
    Scenario("no change", "none", power=False),
    Scenario("shift 0.05 std (below floor)", "shift", "normal", 0.05, power=False),
    Scenario("shift 0.1 std", "shift", "normal", 0.1),
    Scenario("shift 0.25 std", "shift", "normal", 0.25),
    Scenario("shift 0.5 std", "shift", "normal", 0.5),
    Scenario("scale 1.2", "scale", "normal", 1.2),
    Scenario("top category -10 pts", "top_share", "cat3", 0.10),
    Scenario("top category -2 pts (below floor)", "top_share", "cat3", 0.02, power=False),
    Scenario("unseen category 5%", "unseen", "cat10", 0.05),
    Scenario("correlation 0.5 -> 0", "correlation", "normal_b", 0.0),
]
NEW = (
    [Scenario(f"rare flag 3% x{a:g}", "flag", "flag", a, new=True) for a in (1.3, 1.5, 2.0)]
    + [Scenario(f"zero share 60% +{100 * a:g} pts", "zeros", "spend", a, new=True) for a in (0.03, 0.05, 0.08)]
    + [Scenario(f"cat8 category +{100 * a:g} pts", "gain", "cat8", a, new=True) for a in (0.03, 0.05, 0.08)]
    + [Scenario(f"count rate x{a:g}", "rate", "count", a, new=True) for a in (1.07, 1.13, 1.2)]
)
SCENARIOS = MAIN + NEW


def draw(rng: np.random.Generator, n: int, sc: Scenario) -> pd.DataFrame:
    """n rows of every feature, with the scenario's change applied."""
    z1, z2 = rng.standard_normal(n), rng.standard_normal(n)
    rho = sc.amount if sc.change == "correlation" else REF_RHO
    cols: dict[str, Any] = {
        "normal": z1,
        "normal_b": rho * z1 + math.sqrt(1 - rho**2) * z2,
        "lognormal": np.exp(_LN_S * rng.standard_normal(n)),
        "bimodal": rng.standard_normal(n) + np.where(rng.random(n) < 0.5, -2.0, 2.0),
        "heavy_tailed": rng.standard_t(3, n),
        "uniform": rng.random(n),
        "step": rng.integers(0, 1001, n).astype(float),
    }
    for f in MOMENTS:
        mean, std = MOMENTS[f]
        if sc.target == f and sc.change == "shift":
            cols[f] = cols[f] + sc.amount * std
        elif sc.target == f and sc.change == "scale":
            cols[f] = mean + sc.amount * (cols[f] - mean)
        if f == "step":  # an integer index stays an integer
            cols[f] = np.round(cols[f])
    zeros = SPEND_ZEROS + (sc.amount if sc.change == "zeros" else 0.0)
    cols["spend"] = np.where(rng.random(n) < zeros, 0.0, np.round(np.exp(3 + 0.8 * rng.standard_normal(n)), 2))
    cols["count"] = rng.poisson(COUNT_RATE * (sc.amount if sc.change == "rate" else 1.0), n).astype(float)
    for c, levels in CATEGORICAL.items():
        p = cat_probs(levels)
        names = [f"{c}_{i}" for i in range(levels)]
        if sc.target == c and sc.change == "top_share":
            rest = p[1:] / p[1:].sum()
            p = np.r_[p[0] - sc.amount, p[1:] + sc.amount * rest]
        if sc.target == c and sc.change == "unseen":
            p = np.r_[p * (1 - sc.amount), sc.amount]
            names = names + [f"{c}_new"]
        if sc.target == c and sc.change == "flag":
            p = np.array([1 - FLAG_RATE * sc.amount, FLAG_RATE * sc.amount])
        if sc.target == c and sc.change == "gain":  # one mid category gains, the others give in proportion
            k = CAT8_TARGET
            others = np.delete(p, k) / np.delete(p, k).sum() * (1 - p[k] - sc.amount)
            p = np.insert(others, k, p[k] + sc.amount)
        codes = rng.choice(len(p), size=n, p=p)
        cols[c] = pd.Categorical.from_codes(codes, categories=names)
    return pd.DataFrame(cols)


def cells(sizes: tuple[int, ...]) -> list[tuple[Scenario, int]]:
    """Every (scenario, size) of a run, in a fixed order (their index seeds the window)."""
    return [(sc, n) for sc in SCENARIOS for n in sizes]


def window(seed: int, r: int, ci: int, n: int, sc: Scenario) -> pd.DataFrame:
    """The window of replicate r in cell ci: the same rows whichever method reads it."""
    return draw(np.random.default_rng([seed, r, ci, n]), n, sc)


def reference(seed: int, r: int) -> pd.DataFrame:
    """Replicate r's own reference."""
    return draw(np.random.default_rng([seed, r]), REF_ROWS, MAIN[0])


def reps_for(sc: Scenario, cfg: dict) -> int:
    """How many replicates a scenario gets: no-change and below-floor ones more."""
    return cfg["null_reps"] if not sc.power else cfg["power_reps"]
