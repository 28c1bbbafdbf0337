"""The most power any rule within the run's budget can have on issue 17's new changes (a computed bound).

    python bench/detection_bound.py [--rows 5000] [--budget 0.01]

An oracle that knows which column changed and which of its cells moved, and tests only that cell, two-sided,
at the level a run-level budget leaves one discovery among the benchmark's columns (BH's first threshold,
budget / m, which is also Bonferroni's), under the normal approximation (the pooled two-proportion z for
shares, the two-sample Poisson z for the count's rate), on bench/detection_data.py's changes and its
20,000-row reference. No valid rule that treats the columns alike and does not know the direction of a
change beforehand can beat it; Driftline's measured power is in docs/drift-decisions.md, section 5.
"""

from __future__ import annotations

import argparse
import sys
from math import sqrt
from pathlib import Path
from statistics import NormalDist

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.detection_data import (  # noqa: E402
    CAT8_TARGET,
    COUNT_RATE,
    FEATURES,
    FLAG_RATE,
    NEW,
    SPEND_ZEROS,
    cat_probs,
)

REFERENCE_ROWS = 20_000
_N = NormalDist()


def share_power(p0: float, p1: float, n0: int, n1: int, z: float) -> float:
    se0 = sqrt(p0 * (1 - p0) * (1 / n0 + 1 / n1))  # under no change
    se1 = sqrt(p0 * (1 - p0) / n0 + p1 * (1 - p1) / n1)  # under the change
    return _N.cdf((abs(p1 - p0) - z * se0) / se1)


def rate_power(l0: float, l1: float, n0: int, n1: int, z: float) -> float:
    return _N.cdf((abs(l1 - l0) - z * sqrt(l0 / n0 + l0 / n1)) / sqrt(l0 / n0 + l1 / n1))


def bound(rows: int, budget: float) -> dict[str, float]:
    z = _N.inv_cdf(1 - budget / len(FEATURES) / 2)
    target = float(cat_probs(8)[CAT8_TARGET])
    out = {}
    for sc in NEW:
        if sc.change == "flag":
            power = share_power(FLAG_RATE, FLAG_RATE * sc.amount, REFERENCE_ROWS, rows, z)
        elif sc.change == "zeros":
            power = share_power(SPEND_ZEROS, SPEND_ZEROS + sc.amount, REFERENCE_ROWS, rows, z)
        elif sc.change == "gain":
            power = share_power(target, target + sc.amount, REFERENCE_ROWS, rows, z)
        else:
            power = rate_power(COUNT_RATE, COUNT_RATE * sc.amount, REFERENCE_ROWS, rows, z)
        out[sc.name] = power
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, nargs="+", default=[500, 2000, 5000, 50000])
    parser.add_argument("--budget", type=float, default=0.01)
    args = parser.parse_args(argv)
    for rows in args.rows:
        cells = bound(rows, args.budget)
        print(f"{rows:>7,} rows: pooled bound {100 * sum(cells.values()) / len(cells):.1f}%  "
              + ", ".join(f"{k} {100 * v:.0f}%" for k, v in cells.items()))


if __name__ == "__main__":
    main()
