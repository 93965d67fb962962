"""Fault points for crash tests: `MDM_FAULT_POINT=name` kills the process there with SIGKILL
(`MDM_FAULT_HIT=n`: the n-th time it is reached, default the first).

The fault suites start a real process with this set and check what the next start finds;
unset (always, in normal use) it costs one dict lookup.
"""

from __future__ import annotations

import os
import signal

_hits: dict[str, int] = {}


def fault_point(name: str) -> None:
    if os.environ.get("MDM_FAULT_POINT") != name:
        return
    _hits[name] = _hits.get(name, 0) + 1
    if _hits[name] >= int(os.environ.get("MDM_FAULT_HIT", "1")):
        os.kill(os.getpid(), signal.SIGKILL)
