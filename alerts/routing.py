"""The routing tree: which channels one transition goes to (Alertmanager's route matching, first match wins)."""

from __future__ import annotations

from collections.abc import Sequence

from alerts.grouping import DRIFT_RULES
from alerts.incidents import Transition
from monitor.config.alerts import CHANNELS_WITHOUT_WARN, AlertsConfig, Route, RuleBase
from monitor.schema.summary import RunSummary


def _matches(route: Route, t: Transition, labels: dict[str, str], summary: RunSummary) -> bool:
    f = t.finding
    if route.severity is not None and route.severity != t.severity:
        return False
    if route.rule is not None and route.rule != f.rule:
        return False
    if any(labels.get(k) != v for k, v in route.labels.items()):
        return False
    if route.feature is not None and route.feature != f.subject:
        drifted = {v.name for v in summary.features if v.drifted}
        if not (f.rule in DRIFT_RULES and f.subject in ("features", "dataset") and route.feature in drifted):
            return False
    return True


def _walk(routes: Sequence[Route], t: Transition, labels: dict[str, str], summary: RunSummary) -> list[str] | None:
    """The channels of the matching routes at this level (None: none matched)."""
    found: list[str] | None = None
    for route in routes:
        if not _matches(route, t, labels, summary):
            continue
        deeper = _walk(route.routes, t, labels, summary)
        found = (found or []) + (deeper if deeper is not None else list(route.channels))
        if not route.continue_:
            break
    return found


def channels_for(config: AlertsConfig, rule: RuleBase, t: Transition, summary: RunSummary) -> list[str]:
    """The channel names (before expansion to configured notifiers) one transition is sent to."""
    routed = _walk(config.routes, t, config.labels, summary)
    names = routed if routed is not None else list(getattr(rule.channels, t.severity))
    if t.severity != "critical":  # SMS pages carry criticals only, whatever a route says
        names = [n for n in names if n.split(":")[0] not in CHANNELS_WITHOUT_WARN]
    return list(dict.fromkeys(names))
