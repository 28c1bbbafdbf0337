"""The minimum detectable change of a column: what a window of this size could have flagged at all.

For each of a column's tests, the smallest change it flags half the time when this column alone
changed: the level is the run's budget over its family (Benjamini-Hochberg's level for one
discovery) times the test's share of the column's level. In the floor's own units, so the page can
say plainly that a 300-row window only sees large changes.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from scipy import stats as sps

from monitor.drift import rates


def compute(level: float, weights: dict[str, float], *, statistic: str, floor: float,
            location_isf: Callable[[float], float] | None, spread: Any, rate_tests: Sequence[rates.RateResult],
            kind: str) -> dict[str, float]:
    """Per test, the smallest change flagged half the time at ``level`` x the test's share."""
    out: dict[str, float] = {}
    if location_isf is not None and "location" in weights:
        out["location"] = max(float(location_isf(level * weights["location"])), floor)
    if spread is not None and spread.se > 0 and "spread" in weights:
        out["spread"] = float(np.expm1(spread.floor + sps.norm.isf(level * weights["spread"]) * spread.se))
    for r in rate_tests:
        out[r.test] = rates.detectable(r, level * weights[r.test])
        if r.test == "shares":
            out["new_values"] = rates.detectable_new(r, level * weights[r.test])
    out["_wasserstein"] = float(statistic == "wasserstein")
    out["_binary"] = float(kind == "binary")
    return out


def _pts(x: float) -> str:
    return f"{100 * x:.1f} points"


def describe(rows: int, mdc: dict[str, float]) -> str:
    """One sentence: 'at 300 rows this window can only see a location shift of >= 0.4 std or ...'."""
    parts = []
    if "location" in mdc and mdc.get("_wasserstein"):
        parts.append(f"a location shift of ≥ {mdc['location']:.2g} std")
    if "spread" in mdc:
        parts.append(f"a spread change of ≥ {100 * mdc['spread']:.0f}%")
    if "rate" in mdc:
        parts.append(f"a rate (mean) change of ≥ {100 * mdc['rate']:.0f}%")
    if "zeros" in mdc:
        parts.append(f"a change of the share of zeros of ≥ {_pts(mdc['zeros'])}")
    if "shares" in mdc:
        what = "a rate change" if mdc.get("_binary") else "a change of the largest category's share"
        parts.append(f"{what} of ≥ {_pts(mdc['shares'])}")
        parts.append(f"new values in ≥ {100 * mdc['new_values']:.1f}% of rows")
    if not parts and "location" in mdc:
        parts.append(f"a distance of ≥ {mdc['location']:.3g}")
    return f"at {rows:,} rows this window can only see " + " or ".join(parts)
