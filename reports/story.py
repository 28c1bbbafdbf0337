"""What changed in a run, in words, ranked by severity: the headline of the run page and the CLI.

Each finding is one sentence a person would say ("fz_mean up 1.5 std"), with a severity used to rank it
and the subject it is about. Built from the run summary alone (its stored profile digests), no rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from monitor.schema.summary import FeatureVerdict, RunSummary

# Ranks: a performance drop hurts users now; a data-quality failure may explain the drift below it.
_PERFORMANCE, _QUALITY, _PREDICTION, _FEATURE, _QUALITY_OF_DRIFTED, _JOINT = 500, 400, 300, 100, 60, 50


@dataclass(frozen=True)
class Finding:
    """One headline sentence: what it is about, how bad (higher first), and the words."""

    kind: str  # performance | quality | prediction | feature | joint
    subject: str
    severity: float
    text: str
    direction: str = ""  # up | down | wider | narrower | shifted, for numerical and prediction findings


def _pct(x: float | None) -> str:
    return "—" if x is None else f"{x:.0%}"


def _g(x: float | None, digits: int = 3) -> str:
    return "—" if x is None else f"{x:.{digits}g}"


def describe_feature(v: FeatureVerdict, prof: dict[str, Any] | None) -> tuple[str, str, float]:
    """A drifted column in words: (sentence, direction, size in reference standard deviations or share)."""
    if prof and prof.get("kind") == "numerical" and prof.get("mean") is not None and prof.get("ref_mean") is not None:
        ref_std = prof.get("ref_std") or 0.0
        delta = prof["mean"] - prof["ref_mean"]
        z = delta / ref_std if ref_std > 0 else 0.0
        spread = (prof.get("std") or 0.0) / ref_std if ref_std > 0 else 1.0
        if abs(z) >= 0.1 or not v.extra.get("spread_flagged"):
            direction = "up" if delta >= 0 else "down"
            text = (f"{v.name} {direction} {abs(z):.1f} std (mean {_g(prof['ref_mean'])} → {_g(prof['mean'])})")
            if abs(spread - 1) >= 0.25:
                text += f", spread ×{spread:.1f}"
            return text, direction, abs(z)
        direction = "wider" if spread >= 1 else "narrower"
        return (f"{v.name} spread {direction}: std ×{spread:.1f} ({_g(ref_std)} → {_g(prof.get('std'))}), "
                f"mean unchanged"), direction, abs(spread - 1)
    if prof and prof.get("kind") == "categorical":
        cats, ref, cur = prof.get("categories", []), prof.get("reference", []), prof.get("window", [])
        unseen = prof.get("unseen_share") or 0.0
        if unseen > 0:
            values = ", ".join(prof.get("unseen_values", [])[:3]) or "unseen values"
            return f"{v.name}: new categories ({values}) in {_pct(unseen)} of rows", "new", unseen
        if cats and ref and cur:
            i = max(range(len(cats)), key=lambda k: abs(cur[k] - ref[k]))
            direction = "up" if cur[i] >= ref[i] else "down"
            return (f"{v.name}: '{cats[i]}' {direction} from {_pct(ref[i])} to {_pct(cur[i])} of rows",
                    direction, abs(cur[i] - ref[i]))
    return f"{v.name} changed ({v.statistic} {_g(v.value)} above {_g(v.threshold)})", "shifted", 0.0


def _performance(s: RunSummary) -> list[Finding]:
    out: list[Finding] = []
    metrics = ((s.performance or {}).get("metrics") or {}) if isinstance(s.performance, dict) else {}
    for name, m in sorted(metrics.items()):
        if m.get("verdict") not in ("drop", "changed") or m.get("value") is None:
            continue
        iv = m.get("interval") or [None, None]
        ref = m.get("reference")
        word = "dropped" if m["verdict"] == "drop" else "changed"
        if name == "predicted_positive_rate":
            # Said for the key class (e.g. "defective" = 0), the one people watch.
            key = (s.performance or {}).get("key_class", 1)
            share, was = (m["value"], ref) if key == 1 else (1 - m["value"], None if ref is None else 1 - ref)
            out.append(Finding("prediction", name, _PREDICTION + 50,
                               f"predictions shifted: class {key} now predicted for {_pct(share)} of rows "
                               f"(reference {_pct(was)})", "up" if was is not None and share > was else "down"))
            continue
        out.append(Finding("performance", name, _PERFORMANCE,
                           f"{name} {word} to {_g(m['value'])} [{_g(iv[0])}, {_g(iv[1])}] against the reference "
                           f"{_g(ref)}"))
    return out


def findings(s: RunSummary) -> list[Finding]:
    """Every finding of one run, most severe first."""
    profiles: dict[str, Any] = s.extra.get("profiles") or {}
    out = _performance(s)
    drifted = {v.name for v in s.features if v.drifted}
    for c in (s.quality or {}).get("checks", []):
        if c.get("status") == "problem":
            # On a column that drifted, the rate is part of that story; elsewhere it may be a broken pipeline.
            rank = _QUALITY_OF_DRIFTED if c.get("subject") in drifted else _QUALITY
            out.append(Finding("quality", str(c.get("subject", "")), rank,
                               f"data quality: {c.get('check')} of {c.get('subject')} — {c.get('detail', '')}".rstrip(" —")))
    pv = s.prediction_drift
    if pv is not None and pv.drifted and not any(f.kind == "prediction" for f in out):
        key = "__prediction" if pv.kind == "numerical" else "__predicted_class"
        text, direction, size = describe_feature(pv, profiles.get(key))
        out.append(Finding("prediction", "prediction", _PREDICTION + size,
                           text.replace("prediction", "predictions", 1), direction))
    for v in s.features:
        if v.drifted:
            text, direction, size = describe_feature(v, profiles.get(v.name))
            out.append(Finding("feature", v.name, _FEATURE + min(size, 99.0), text, direction))
    mv = s.multivariate or {}
    if mv.get("drifted"):
        out.append(Finding("joint", "multivariate", _JOINT,
                           f"the joint distribution changed: a classifier tells window rows from reference rows "
                           f"with AUC {_g(mv.get('auc'))}, above its threshold {_g(mv.get('threshold'))}"))
    return sorted(out, key=lambda f: -f.severity)


def dataset_drift_reason(s: RunSummary) -> str:
    """Why the run says dataset drift yes or no, including when only the joint classifier decided."""
    decided = [v for v in s.features if v.status != "insufficient_data"]
    drifted = sum(v.drifted for v in decided)
    share_rule = s.extra.get("drift_share_threshold")
    rule = f"{_pct(share_rule)}" if share_rule is not None else "the configured share"
    by_share = f"{drifted} of {len(decided)} features drifted ({_pct(s.drift_share)}; the rule is at least {rule})"
    mv = s.multivariate or {}
    joint = ""
    if mv.get("auc") is not None:
        joint = (f"the joint classifier's AUC is {_g(mv.get('auc'))} "
                 f"({'above' if mv.get('drifted') else 'not above'} its threshold {_g(mv.get('threshold'))})")
    share_says = share_rule is not None and bool(decided) and s.drift_share >= share_rule
    if s.dataset_drift and not share_says and mv.get("drifted"):
        return (f"Dataset drift: yes, because {joint}: the columns together moved even though only {by_share}. "
                f"It learns from a sample of rows of both sides; an AUC of 0.5 means it cannot tell them apart.")
    if s.dataset_drift:
        return f"Dataset drift: yes, because {by_share}" + (f"; {joint}" if joint else "") + "."
    return f"Dataset drift: no — {by_share}" + (f"; {joint}" if joint else "") + "."
