"""Alert rules of a model's config, and what each says about one run summary.

A rule looks at one `RunSummary` and returns a `Finding` per subject (a feature, or the
whole dataset) with a severity: None (fine), "warn" or "critical". Persistence (N of the
last M runs) is applied on top by `persisted_severity`; incidents and cooldowns live in
alerts/incidents.py.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from monitor.config.alerts import (
    EstimatedPerformanceRule,
    FeatureDriftRule,
    Level,
    PerformanceRule,
    RateRule,
    RejectedRule,
    RuleBase,
    ShareRule,
    Thresholds,
    VerdictRule,
    VolumeRule,
)
from monitor.config.common import metric_for_class
from monitor.errors import ConfigError
from monitor.schema.summary import FeatureVerdict, RunSummary


@dataclass(frozen=True)
class Finding:
    """What one rule says about one subject in one run."""

    rule: str
    subject: str
    level: Level | None
    headline: str = ""  # "feature drift: 3/8 features (force_z PSI 0.42 > 0.25)"
    lines: tuple[str, ...] = ()
    short: str = ""  # the SMS-sized version of the headline


def fmt(value: float | None) -> str:
    """A number as people read it in a message: three significant digits."""
    return "n/a" if value is None else f"{value:.3g}"


def _stat_name(statistic: str) -> str:
    return statistic.upper() if len(statistic) <= 4 else statistic


def _cmp(thresholds: Thresholds) -> str:
    return ">" if thresholds.direction == "above" else "<"


def _verdict_line(v: FeatureVerdict, t: Thresholds, level: Level | None) -> str:
    shown = t.shown(level, v.threshold)
    # The comparison is only true of a breach; a value back under its threshold reads "<=".
    cmp = _cmp(t) if level is not None else ("<=" if t.direction == "above" else ">=")
    return f"{v.name} {_stat_name(v.statistic)} {fmt(v.value)} {cmp} {fmt(shown)}"


def _worst(levels: Sequence[Level | None]) -> Level | None:
    if "critical" in levels:
        return "critical"
    return "warn" if "warn" in levels else None


def _feature_drift(rule: FeatureDriftRule, s: RunSummary) -> list[Finding]:
    if s.status == "insufficient_data":
        return []
    judged = [v for v in s.features if v.status != "insufficient_data"]
    scored = [(v, rule.thresholds_for(v)) for v in judged]
    levels = [(v, t, t.level(v.value, v.drifted)) for v, t in scored]
    if rule.per_feature:
        out = []
        for v, t, level in levels:
            line = _verdict_line(v, t, level)
            out.append(Finding("feature_drift", v.name, level, f"feature drift on {line}", (line,), line))
        return out
    hit = sorted(
        [x for x in levels if x[2] is not None],
        key=lambda x: (x[2] != "critical", -(abs(x[0].value or 0.0) / (x[0].threshold or 1.0))),
    )
    level = _worst([x[2] for x in hit])
    if level is None and _gone(s):
        # A feature gone wholly NULL cannot be judged: that is not "back to normal", so no resolve.
        return []
    lines = tuple(_verdict_line(v, t, lv) for v, t, lv in hit[: rule.top])
    count = f"{len(hit)}/{len(judged)} features drifted"
    headline = f"{count} ({lines[0]})" if lines else count
    short = f"{lines[0]}, {count}" if lines else count
    return [Finding("feature_drift", "features", level, headline, lines, short)]


def _gone(s: RunSummary) -> list[str]:
    """Features of a non-empty window with no value at all (wholly NULL)."""
    return [v.name for v in s.features if v.status == "insufficient_data" and s.rows
            and (q := s.data_quality.get(v.name)) is not None and q.null_rate >= 1.0]


def _dataset_drift(rule: ShareRule, s: RunSummary) -> list[Finding]:
    if s.status == "insufficient_data":
        return []
    t = rule.thresholds
    level = t.level(s.drift_share, s.dataset_drift)
    shown = t.shown(level, None)
    line = f"drift share {fmt(s.drift_share)}" + (f" {_cmp(t)} {fmt(shown)}" if shown is not None else "")
    drifted = sorted((v for v in s.features if v.drifted), key=lambda v: -(abs(v.value or 0.0) / (v.threshold or 1.0)))
    tops = tuple(f"{v.name} {_stat_name(v.statistic)} {fmt(v.value)} > {fmt(v.threshold)}" for v in drifted[:3])
    count = f"{len(drifted)}/{len(s.features)} features drifted"
    mv = s.multivariate or {}
    if mv.get("drifted"):  # the joint distribution moved: say so, or "0/13 features drifted" reads like a bug
        count += f", joint distribution changed (classifier AUC {fmt(mv.get('auc'))} > {fmt(mv.get('threshold'))})"
    short = f"{tops[0]}, {count}" if tops else line + (", joint distribution changed" if mv.get("drifted") else "")
    return [Finding("dataset_drift", "dataset", level, f"{line}, {count}", (line, *tops), short)]


def _verdict(name: str) -> Callable[[VerdictRule, RunSummary], list[Finding]]:
    def evaluate(rule: VerdictRule, s: RunSummary) -> list[Finding]:
        v: FeatureVerdict | None = getattr(s, name)
        if v is None or s.status == "insufficient_data" or v.status == "insufficient_data":
            return []
        level = rule.thresholds.level(v.value, v.drifted)
        line = _verdict_line(v, rule.thresholds, level)
        what = name.replace("_", " ")
        return [Finding(name, v.name, level, f"{what}: {line}", (line,), f"{what} {line}")]

    return evaluate


def _rate(name: str, attr: str) -> Callable[[RateRule, RunSummary], list[Finding]]:
    def evaluate(rule: RateRule, s: RunSummary) -> list[Finding]:
        hits = []
        for feature, q in sorted(s.data_quality.items()):
            t = rule.features.get(feature, rule.thresholds)
            value = getattr(q, attr)
            level = t.level(value)
            if level:
                hits.append((level, (f"{feature} {name.replace('_', ' ')} {fmt(value)} {_cmp(t)} "
                             f"{fmt(t.shown(level, None))}")))
        hits.sort(key=lambda h: h[0] != "critical")
        level = _worst([h[0] for h in hits])
        lines = tuple(h[1] for h in hits)
        headline = lines[0] + (f" (+{len(lines) - 1} more)" if len(lines) > 1 else "") if lines else ""
        if not lines and s.data_quality:
            # Nothing breached: say what the worst one is now, so a resolve tells where it stands.
            worst, q = max(sorted(s.data_quality.items()), key=lambda kv: getattr(kv[1], attr))
            headline = f"highest now: {worst} {name.replace('_', ' ')} {fmt(getattr(q, attr))}"
        return [Finding(name, "dataset", level, headline, lines, headline)]

    return evaluate


def _rejected(rule: RejectedRule, s: RunSummary) -> list[Finding]:
    total = s.rows + s.rows_rejected
    share = s.rows_rejected / total if total else 0.0
    t = rule.thresholds
    level = t.level(share)
    line = f"{s.rows_rejected}/{total} rows rejected ({fmt(share)} {_cmp(t)} {fmt(t.shown(level, None))})"
    return [Finding("rejected_rows", "dataset", level, line, (line,), line)]


def _volume(rule: VolumeRule, s: RunSummary) -> list[Finding]:
    out = _missed(s)
    if s.rows == 0:
        # An empty window is critical whatever is expected: no data is the most common failure there is.
        line = "0 rows in the window" + (f", expected {s.expected_rows}" if s.expected_rows else "")
        return [Finding("volume", "dataset", "critical", line, (line, "check the prediction logger and the ingest"),
                        line), *out]
    if s.expected_rows is None:
        return out
    deviation = abs(s.rows / s.expected_rows - 1.0)
    t = rule.thresholds
    level = t.level(deviation)
    line = f"{s.rows} rows, expected {s.expected_rows} (off by {deviation:.0%})"
    return [Finding("volume", "dataset", level, line, (line,), line), *out]


def _missed(s: RunSummary) -> list[Finding]:
    """Windows never run between the previous run and this one (the scheduler stopped, the service was down)."""
    gap = s.extra.get("missed_windows")
    if "missed_windows" not in s.extra:
        return []  # a summary from before this check: cannot tell
    if not gap:
        return [Finding("volume", "schedule", None, "no window missed since the previous run")]
    line = f"{gap['count']} window(s) between {gap['from']} and {gap['to']} were never run"
    return [Finding("volume", "schedule", "warn", line, (line, f"to run them: {gap['do']}"), line)]


def _class_word(metric: str, key_class: int) -> str:
    return " (important class)" if metric.endswith(f"_{key_class}") else ""


def _performance(rule: PerformanceRule, s: RunSummary) -> list[Finding]:
    perf = s.performance or {}
    if perf.get("status") in (None, "not_yet_known"):
        return []  # too few labels: not "fine", but nothing to alert on yet either
    metrics = perf.get("metrics") or {}
    key_class = int(perf.get("key_class", 0))
    on_drop = {metric_for_class(k, key_class): v for k, v in rule.on_drop.items()}
    floors = {metric_for_class(k, key_class): v for k, v in rule.metrics.items()}
    coverage = f"{(perf.get('coverage') or {}).get('fraction', 0):.0%} labelled"
    day = f"{s.window.start:%d %b}"
    out = []
    for metric in sorted(set(on_drop) | set(floors)):
        m = metrics.get(metric) or {}
        value = m.get("value")
        if value is None:
            continue
        level: Level | None = on_drop.get(metric) if m.get("verdict") == "drop" else None
        if metric in floors:
            level = _worst([level, floors[metric].level(float(value))])
        interval = m.get("interval") or [None, None]
        name = metric + _class_word(metric, key_class)
        line = (f"{name} for the window of {day}, {coverage} ({perf.get('status')}): {fmt(float(value))} "
                f"[{fmt(interval[0])}, {fmt(interval[1])}], reference {fmt(m.get('reference'))}")
        out.append(Finding("performance", metric, level, f"performance: {line}", (line,), line))
    return out


def _estimated(rule: EstimatedPerformanceRule, s: RunSummary) -> list[Finding]:
    est = s.estimated_performance or {}
    metrics = est.get("metrics") or {}
    if not metrics:
        return []
    key_class = int(est.get("key_class", 0))
    realized_final = (s.performance or {}).get("status") == "final"  # the labels have spoken: the estimate is moot
    day = f"{s.window.start:%d %b}"
    out = []
    for metric, severity in sorted({metric_for_class(k, key_class): v for k, v in rule.on_drop.items()}.items()):
        m = metrics.get(metric) or {}
        if m.get("value") is None:
            continue
        level: Level | None = severity if m.get("verdict") == "drop" and not realized_final else None
        interval = m.get("interval") or [None, None]
        line = (f"{metric}{_class_word(metric, key_class)} for the window of {day}, estimated, no labels yet: "
                f"{fmt(float(m['value']))} [{fmt(interval[0])}, {fmt(interval[1])}], reference {fmt(m.get('reference'))} "
                f"(assumes no concept drift)")
        out.append(Finding("estimated_performance", metric, level, f"estimated performance: {line}", (line,), line))
    return out


RULES: dict[str, Callable[..., list[Finding]]] = {
    "feature_drift": _feature_drift,
    "dataset_drift": _dataset_drift,
    "prediction_drift": _verdict("prediction_drift"),
    "label_drift": _verdict("label_drift"),
    "null_rate": _rate("null_rate", "null_rate"),
    "out_of_range_rate": _rate("out_of_range_rate", "out_of_range_rate"),
    "rejected_rows": _rejected,
    "volume": _volume,
    "performance": _performance,
    "estimated_performance": _estimated,
}


def evaluate(name: str, rule: RuleBase, summary: RunSummary) -> dict[str, Finding]:
    """What rule `name` says about each subject of one summary (subjects it cannot judge are absent)."""
    if name not in RULES:
        raise ConfigError(f"unknown alert rule {name!r}; known rules: {sorted(RULES)}")
    return {f.subject: f for f in RULES[name](rule, summary)}


def persisted_severity(
    name: str, rule: RuleBase, summary: RunSummary, history: Sequence[RunSummary]
) -> dict[str, Finding]:
    """Each subject's finding for this run, its level kept only if it held for N of the last M runs."""
    current = evaluate(name, rule, summary)
    if rule.of_last == 1:
        return current
    past = [evaluate(name, rule, h) for h in history[: rule.of_last - 1]]
    out = {}
    for subject, finding in current.items():
        levels = [finding.level] + [p[subject].level if subject in p else None for p in past]
        crit = sum(lv == "critical" for lv in levels)
        any_ = sum(lv is not None for lv in levels)
        level: Level | None = (
            "critical" if crit >= rule.for_runs else "warn" if any_ >= rule.for_runs else None
        )
        out[subject] = Finding(finding.rule, subject, level, finding.headline, finding.lines, finding.short)
    return out
