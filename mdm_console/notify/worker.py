"""The delivery process: Apprise runs here, not in the console, so that sending (HTTP, TLS, JSON, Apprise's own
thread pools) never competes with the console's event loop for the interpreter lock.

The parent (`ProcessDispatcher`) writes JSON lines on our stdin: first the targets, then one line per message;
we write JSON lines back on stdout: `{"ready": true}` once Apprise is loaded, then one outcome per attempt.
Stdin closing (the parent ended, for any reason) ends us: no orphan.

    python -m mdm_console.notify.worker
"""

from __future__ import annotations

import json
import sys
import threading
from dataclasses import asdict

from mdm_console.notify.deliver import Dispatcher, Target
from mdm_console.notify.messages import Message


def main() -> int:
    out_lock = threading.Lock()

    def write(doc: dict) -> None:
        with out_lock:
            sys.stdout.write(json.dumps(doc) + "\n")
            sys.stdout.flush()

    first = sys.stdin.readline()
    if not first:
        return 0
    setup = json.loads(first)
    targets = {t["name"]: Target(t["name"], t["url"], timeout=t["timeout"], retries=t["retries"])
               for t in setup["targets"]}
    dispatcher = Dispatcher(list(targets.values()), lambda o: write({"outcome": asdict(o)}),
                            backoff=setup.get("backoff", 1.0))
    dispatcher.wait_loaded(60)
    write({"ready": True})
    for line in sys.stdin:
        doc = json.loads(line)
        target = targets.get(doc["target"])
        if target is not None:
            dispatcher.submit(target, Message(**doc["message"]))
    dispatcher.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
