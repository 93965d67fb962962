"""Fault points for crash tests: `MDM_FAULT_POINT=name` kills the process there with SIGKILL.

The fault suites start a real console process with this set and check what the next
start finds; unset (always, in normal use) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal


def fault_point(name: str) -> None:
    if os.environ.get("MDM_FAULT_POINT") == name:
        os.kill(os.getpid(), signal.SIGKILL)
