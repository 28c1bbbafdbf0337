"""A small, row-count independent digest of each column's reference and window profile, for the page.

Stored in the run summary (`extra["profiles"]`) so /report can draw distributions and say which way
a feature moved without reading a row: a few bins and a few numbers per column, whatever the window size.
"""

from __future__ import annotations

import math
from typing import Any

from monitor.schema.profile import CategoricalProfile, NumericProfile, Spec

FeatureProfile = NumericProfile | CategoricalProfile


def _std(p: NumericProfile) -> float | None:
    return None if p.variance is None else math.sqrt(max(p.variance, 0.0))


def _round(v: float | None) -> float | None:
    return None if v is None else round(float(v), 6)


def digest(spec: Spec, ref: FeatureProfile, cur: FeatureProfile) -> dict[str, Any]:
    """One column: bin shares (or category shares) of both sides, and the window's summary numbers."""
    if isinstance(ref, NumericProfile) and isinstance(cur, NumericProfile):
        rn, cn = max(ref.valid, 1), max(cur.valid, 1)
        return {
            "kind": "numerical",
            "edges": [_round(e) for e in getattr(spec, "edges", ())],
            "reference": [round(c / rn, 6) for c in ref.bin_counts],
            "window": [round(c / cn, 6) for c in cur.bin_counts],
            "ref_mean": _round(ref.mean), "ref_std": _round(_std(ref)),
            "mean": _round(cur.mean), "std": _round(_std(cur)), "min": _round(cur.min), "max": _round(cur.max),
            "ref_min": _round(ref.min), "ref_max": _round(ref.max), "valid": cur.valid,
        }
    if isinstance(ref, CategoricalProfile) and isinstance(cur, CategoricalProfile):
        rn, cn = max(ref.valid, 1), max(cur.valid, 1)
        return {
            "kind": "categorical",
            "categories": [*ref.categories, "(other)", "(unseen)"],
            "reference": [round(c / rn, 6) for c in ref.vector()],
            "window": [round(c / cn, 6) for c in cur.vector()],
            "unseen_values": list(cur.unseen_values), "unseen_share": round(cur.unseen / cn, 6), "valid": cur.valid,
        }
    return {"kind": "unknown"}
