"""`driftline run` in a process that SIGKILLs itself at one fault point (monitor/schema/faults.py).

python -m tests.faults.killed_run CONFIG_DIR POINT AT
"""

from __future__ import annotations

import os
import signal
import sys

from monitor import cli
from monitor.schema import faults


def main() -> int:
    directory, point, at = sys.argv[1:4]

    def kill(reached: str) -> None:
        if reached == point:
            os.kill(os.getpid(), signal.SIGKILL)

    faults.install(kill)
    return cli.main(["-q", "run", "--config-dir", directory, "--at", at])


if __name__ == "__main__":
    sys.exit(main())
