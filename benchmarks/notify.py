"""Notifications: event to receiver latency, and key to repaint while one target hangs.

Usage: python benchmarks/notify.py [--events 200] [--presses 80] [--json]

1. The real engine and notifier, a 127.0.0.1 HTTP receiver as the Apprise JSON target; --events alerts recorded
   20 ms apart (distinct ids, so none collapse): from the event's record call returning to the receiver holding
   the message. Baseline in the same run: one bare Apprise notify() to the same receiver per message, from a
   thread (what Apprise and HTTP alone cost).
2. The console in-process under Textual's pilot (160x48) with its live monitor and the demo workload at 5 000
   ops/s, two targets: one receiver that never answers (a 20 s timeout) and one that does; a warning alert every
   100 ms (raised and cleared) keeps both busy. Key event to compositor update over --presses screen switches (as benchmarks/keys.py
   measures it); baseline: the same console, load and alerts with no [[notify]] target, same run.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from _common import emit, parse_args, percentile, write_plan
from keys import TimedApp, switch_screens  # importing keys times the compositor's refreshes

from mdm_console.cli.owner import tune_gc
from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan


class Receiver:
    def __init__(self, hang: bool = False):
        self.arrived: dict[str, float] = {}
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                if hang:
                    outer.release.wait(60)
                    return
                outer.arrived[body["title"]] = time.perf_counter()
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        self.url = f"json://127.0.0.1:{self.srv.server_address[1]}/hook"

    def close(self):
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


def target(name: str, url: str, timeout: float = 10) -> str:
    return (f'\n[[notify]]\nname = "{name}"\nurl = "{url}"\nmin_interval_seconds = 0\nretries = 0\n'
            f"timeout_seconds = {timeout}\n")


async def latency(tmp: Path, n: int) -> tuple[list[float], list[float]]:
    import apprise

    r = Receiver()
    plan = write_plan(tmp / "lat", '[metrics]\nsource = "none"\n' + target("bench", r.url))
    e = await Engine.open(load_plan(plan), record_start="bench")
    m = LiveMonitor(e, system=False)
    await m.start()
    await asyncio.to_thread(m.notifier.dispatcher.wait_loaded, 30)  # steady state: Apprise loaded (at start-up)
    sent: dict[str, float] = {}
    try:
        for i in range(n):
            await e.record("alert.raised", None, {"alert": f"bench:{i}", "level": "critical", "message": "bench"})
            sent[f"CRITICAL: bench:{i}"] = time.perf_counter()
            await asyncio.sleep(0.02)
        deadline = time.monotonic() + 60
        while len(r.arrived) < n and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
    finally:
        await m.stop()
        await e.close()
    ours = [(r.arrived[t] - s) * 1000 for t, s in sent.items() if t in r.arrived]
    bare = []
    a = apprise.Apprise()
    a.add(r.url)
    for i in range(n):
        t0 = time.perf_counter()
        await asyncio.to_thread(a.notify, body="bench", title=f"bare {i}")
        bare.append((r.arrived.get(f"bare {i}", time.perf_counter()) - t0) * 1000)
    r.close()
    return ours, bare


async def keys_while_hanging(tmp: Path, presses: int, with_targets: bool) -> list[float]:
    hang, good = Receiver(hang=True), Receiver()
    targets = (target("stuck", hang.url, 20) + target("bridge", good.url)) if with_targets else ""
    # Both runs record the same alerts: the difference is what delivering them costs the console.
    plan = write_plan(tmp / ("hang" if with_targets else "none"),
                      '[metrics]\nsource = "jsonl"\npath = "ops.jsonl"\n[alerts.auto_rollback]\nmode = "off"\n'
                      + targets)
    e = await Engine.open(load_plan(plan), record_start="bench")
    await e.rollout.ensure_flag_file()
    await e.rollout.advance("storage", override="bench")
    monitor = LiveMonitor(e)
    await monitor.start()
    wl = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(e.loaded.flag_file),
                           "--metrics", str(plan.parent / "ops.jsonl"), "--rate", "5000"])
    tune_gc()
    app = TimedApp(e, monitor=monitor, keymap={})
    stop = asyncio.Event()

    async def alerts():
        i = 0
        while not stop.is_set():
            # warning level: sent to the targets, but no toast each (a toast a critical alert, 10 a second, would
            # measure the toasts, not the notifications)
            await e.record("alert.raised", None, {"alert": f"load:{i}", "level": "warning", "message": "load"})
            await e.record("alert.cleared", None, {"alert": f"load:{i}", "message": "cleared"})
            i += 1
            await asyncio.sleep(0.1)

    try:
        async with app.run_test(size=(160, 48)) as pilot:
            noise = asyncio.ensure_future(alerts())
            await pilot.pause(2)
            await switch_screens(pilot, presses)
            stop.set()
            await noise
    finally:
        wl.terminate()
        wl.wait(10)
        await monitor.stop()
        await e.close()
        hang.close()
        good.close()
    return list(TimedApp.repaints)


def main() -> None:
    args = parse_args(events=200, presses=300)
    with tempfile.TemporaryDirectory() as tmp:
        ours, bare = asyncio.run(latency(Path(tmp), args.events))
        baseline = asyncio.run(keys_while_hanging(Path(tmp), args.presses, False))
        hanging = asyncio.run(keys_while_hanging(Path(tmp), args.presses, True))
    p99, b99 = percentile(hanging, 99), percentile(baseline, 99)
    rows = [
        {"figure": "event to receiver p50", "goal": "", "value": round(statistics.median(ours), 1), "unit": "ms",
         "baseline": round(statistics.median(bare), 1), "ratio": round(statistics.median(ours) / statistics.median(bare), 2),
         "how": f"{len(ours)} of {args.events} alerts delivered to a 127.0.0.1 Apprise JSON receiver; baseline: a bare "
                "Apprise notify() per message to the same receiver"},
        {"figure": "event to receiver p99", "goal": "", "value": round(percentile(ours, 99), 1), "unit": "ms",
         "baseline": round(percentile(bare, 99), 1), "ratio": round(percentile(ours, 99) / percentile(bare, 99), 2),
         "how": "as above"},
        {"figure": "key to repaint p50, one notify target hanging", "goal": "", "value": round(statistics.median(hanging), 1),
         "unit": "ms", "baseline": round(statistics.median(baseline), 1),
         "ratio": round(statistics.median(hanging) / statistics.median(baseline), 2), "how": "as below"},
        {"figure": "key to repaint p99, one notify target hanging", "goal": "<= 50 ms", "value": round(p99, 1),
         "unit": "ms", "baseline": round(b99, 1), "ratio": round(p99 / b99, 2),
         "how": f"{len(hanging)} screen switches; demo workload 5 000 ops/s, an alert every 100 ms to a target that "
                "never answers and one that does (warning level); baseline: the same console, load and alerts with no "
                "targets, same run"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
