"""What every /report page shares: escaping, number formatting, the page frame and its CSS.

Every value from a config or the data goes through html.escape: a feature may be named <script>.
"""

from __future__ import annotations

from html import escape
from typing import Any

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Roboto,sans-serif;margin:16px;color:#222;max-width:1200px}
h1{font-size:22px;margin-bottom:4px} h2{font-size:17px;margin-top:28px;border-bottom:1px solid #ddd}
table{border-collapse:collapse;font-size:13px;margin:8px 0} td,th{border:1px solid #ddd;padding:4px 8px;text-align:left}
th{background:#f5f5f5} .drift{background:#fde0dc;font-weight:600} .ok{color:#2a7d2a} .na{color:#888}
.badge{display:inline-block;padding:2px 8px;border-radius:10px;font-size:12px;color:#fff}
.b-drift{background:#c62828} .b-ok{background:#2e7d32} .b-na{background:#777} .b-warn{background:#ef6c00}
.note{color:#555;font-size:12px} nav a{margin-right:12px}
.scroll{overflow-x:auto} .plots{display:grid;grid-template-columns:repeat(auto-fill,minmax(340px,1fr));gap:12px}
.plot{min-height:120px;border:1px solid #eee;border-radius:6px} figure{margin:0;min-width:0}
#headline{font-size:15px;line-height:1.5} #headline li.severe{font-weight:600;color:#b71c1c}
"""


def e(v: Any) -> str:
    """Escape a value for HTML text or a quoted attribute."""
    return escape(str(v), quote=True)


def num(v: float | None, digits: int = 4) -> str:
    return "—" if v is None else f"{v:.{digits}g}"


def page(title: str, body: str, head: str = "") -> str:
    """A whole HTML document: one inline stylesheet, and `head` (e.g. the chart library's script tag)."""
    return (f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{e(title)}</title>"
            f"<meta name=viewport content='width=device-width,initial-scale=1'><style>{CSS}</style>{head}</head>"
            f"<body>{body}</body></html>")
