"""Named fault points of a run: the seam the fault tests (tests/monitor/pipeline/test_faults.py) plug into.

The code calls `reached("after_lease")` etc. at each phase boundary; nothing happens unless a test
(or bench/soak.py) installed a hook with `install`. No setting or environment variable turns it on,
so production never runs a hook. A leaf module, so the pipeline and the alerts outbox both reach it.
"""

from __future__ import annotations

from collections.abc import Callable

# In the order a run reaches them; the outbox's two are reached once per row sent.
POINTS = ("after_lease", "after_profile", "before_save", "after_save", "before_send", "after_accept",
          "after_mark", "before_release")

_hook: Callable[[str], None] | None = None


def install(hook: Callable[[str], None] | None) -> None:
    """Call `hook(point)` at every fault point from now on (None: remove it)."""
    global _hook
    _hook = hook


def reached(point: str) -> None:
    """A fault point: inert unless a test installed a hook."""
    if point not in POINTS:
        raise ValueError(f"unknown fault point {point!r}; known: {sorted(POINTS)}")
    if _hook is not None:
        _hook(point)
