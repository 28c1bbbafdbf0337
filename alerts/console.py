"""The console notifier: readable alert lines on a stream, always available (the demo uses it)."""

from __future__ import annotations

import sys
from typing import TextIO

from alerts.base import Message


def format_console(message: Message) -> str:
    """One message as console lines: a tagged headline, its details and the report link."""
    out = [f"[{message.severity.upper()}] {message.headline}"]
    out += [f"    {line}" for line in message.lines]
    if message.report_url:
        out.append(f"    report: {message.report_url}")
    return "\n".join(out)


class ConsoleNotifier:
    """Prints each message; never fails a delivery."""

    name = "console"

    def __init__(self, stream: TextIO | None = None) -> None:
        self._stream = stream

    def send(self, message: Message) -> None:
        stream = self._stream or sys.stdout  # looked up late so pytest's capsys sees it
        print(format_console(message), file=stream, flush=True)
