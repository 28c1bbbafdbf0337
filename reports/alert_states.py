"""The run page's alert section: open, acknowledged, silenced and inhibited alerts, each shown as what it is."""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from monitor.schema.summary import RunSummary


def _e(v: Any) -> str:
    return escape("" if v is None else str(v), quote=True)


def _badge(state: str) -> str:
    return f"<span class='badge state-{_e(state)}'>{_e(state)}</span>"


def incidents_html(open_incidents: Sequence[dict[str, Any]]) -> str:
    """The model's open incidents, an acknowledged one marked with who acknowledged it."""
    items = []
    for i in open_incidents:
        acked = i.get("acknowledged_by")
        state = "acknowledged" if acked else "open"
        who = f" by {_e(acked)}" if acked else ""
        items.append(f"<li class='incident state-{state}'>{_badge(state)}{who} {_e(i.get('severity'))} "
                     f"{_e(i.get('rule'))} / {_e(i.get('subject'))} since {_e(i.get('opened_at'))}</li>")
    return f"<h2>Open incidents</h2><ul id=incidents>{''.join(items)}</ul>" if items else ""


def suppressed_html(s: RunSummary) -> str:
    """This run's alerts that were stored but not sent: silenced (who, why, until when) or inhibited (why)."""
    items = []
    for x in s.extra.get("suppressed") or []:
        state = x.get("state", "")
        extra = (f" by {_e(x.get('by'))} until {_e(x.get('until'))}: {_e(x.get('reason'))}" if state == "silenced"
                 else f": {_e(x.get('reason'))}")
        items.append(f"<li class='suppressed state-{_e(state)}'>{_badge(state)} {_e(x.get('severity'))} "
                     f"{_e(x.get('rule'))} / {_e(x.get('subject'))} — {_e(x.get('message'))}{extra}</li>")
    return ("<h2>Not sent</h2><ul id=suppressed>" + "".join(items) + "</ul>") if items else ""


def deliveries_html(s: RunSummary) -> str:
    """Alerts of this run's outbox pass not delivered: given up on (with the reason; `driftline outbox retry`
    re-queues them once fixed) or still pending (retried by the next run)."""
    d = s.extra.get("deliveries") or {}
    items = [f"<li class='delivery state-{state}'>{_badge(state)} {_e(x.get('channel'))}: {_e(x.get('rule'))} / "
             f"{_e(x.get('subject'))} after {_e(x.get('attempts'))} attempts: {_e(x.get('error'))}</li>"
             for state in ("failed", "pending") for x in d.get(state) or []]
    note = ("<p class=note>Failed alerts stay in the outbox: fix the channel, then "
            "<code>driftline outbox retry --channel NAME</code>.</p>" if d.get("failed") else "")
    return ("<h2>Undelivered alerts</h2><ul id=deliveries>" + "".join(items) + "</ul>" + note) if items else ""


def failed_count(s: RunSummary) -> int:
    """How many of the run's alerts were given up on (the overview's and /metrics' count)."""
    return len((s.extra.get("deliveries") or {}).get("failed") or [])


def ack_page(model: str, open_incidents: Sequence[dict[str, Any]], done: dict[str, Any] | None = None) -> str:
    """The confirm page an alert's "Acknowledge" link lands on: the model's open incidents, one button each."""
    rows = []
    for i in open_incidents:
        if i.get("acknowledged_by"):
            action = f"{_badge('acknowledged')} by {_e(i['acknowledged_by'])}"
        else:
            action = ("<form method=post action='/ack'>"
                      f"<input type=hidden name=model value='{_e(model)}'>"
                      f"<input type=hidden name=rule value='{_e(i.get('rule'))}'>"
                      f"<input type=hidden name=subject value='{_e(i.get('subject'))}'>"
                      "<button type=submit>Acknowledge</button></form>")
        rows.append(f"<li class='incident'>{_e(i.get('severity'))} {_e(i.get('rule'))} / {_e(i.get('subject'))} "
                    f"since {_e(i.get('opened_at'))} {action}</li>")
    note = (f"<p id=done>Acknowledged {_e(done.get('rule'))} / {_e(done.get('subject'))} as "
            f"{_e(done.get('acknowledged_by'))}: no more reminders; it will still resolve.</p>" if done else "")
    body = (f"<h1>Acknowledge — {_e(model)}</h1>{note}"
            + (f"<ul id=incidents>{''.join(rows)}</ul>" if rows else "<p>No open incident.</p>")
            + f"<p><a href='/report?model={_e(model)}'>the model's latest run</a></p>")
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>Driftline · acknowledge {_e(model)}"
            f"</title></head><body>{body}</body></html>")
