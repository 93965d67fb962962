"""The session as a service: what the socket costs, and an attached console under load.

1. `status` and `advance` through the socket of a real `mdm-console serve` (a subprocess) against the same
   operation run in this process on an engine of its own (the same plan in a second directory), alternating
   one call of each, quiet sessions: p50 and p99. `advance` goes testing -> canary with an override and is
   stepped back after each call (not timed), so every advance writes the flag file.
2. Key to repaint of a console attached to that service while the demo workload sends 5 000 ops/s into the
   service's feed, 50 validators run in the service, and 4 more consoles are attached (each its own process,
   following the event stream and the health snapshots): p50, p99 over screen switches (goal p99 <= 50 ms).
   Measured as benchmarks/keys.py does: key event to the compositor's next update, under Textual's pilot.
3. Start-up to live figures: from nothing to the dashboard's first row showing operations, for a console that
   attaches to the running service and for one that opens the same feed itself (embedded), same run.

Usage: python benchmarks/service.py [--calls N] [--presses N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from _common import emit, percentile, write_plan

from keys import VALIDATORS, TimedApp, switch_screens
from mdm_console.api import models as m
from mdm_console.api.ops import OPS
from mdm_console.client.remote import ServiceClient
from mdm_console.client.session import AttachedSession, EmbeddedSession
from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan

QUIET = "[gate]\nmin_stage_seconds = 0\n[alerts.auto_rollback]\nmode = \"off\"\n"
FOLLOWER = """
import asyncio, sys
from pathlib import Path
from mdm_console.client.session import AttachedSession
async def go():
    s = await AttachedSession.open(Path(sys.argv[1]), observe=True)
    print("attached", flush=True)
    await asyncio.to_thread(sys.stdin.readline)
    await s.close()
asyncio.run(go())
"""


def serve(plan: Path) -> subprocess.Popen:
    proc = subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan", str(plan)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    for line in proc.stderr:
        if json.loads(line).get("msg") == "serving":
            break
    else:
        raise RuntimeError("serve ended before serving")
    # Its log goes on (a line per request and per event): read and dropped, or the pipe fills and serve waits.
    threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()
    return proc


def stop(proc: subprocess.Popen) -> None:
    proc.terminate()
    proc.wait(30)


async def round_trips(tmp: Path, calls: int) -> dict[str, tuple[list[float], list[float]]]:
    local_plan = write_plan(tmp / "local", QUIET)
    served_plan = write_plan(tmp / "served", QUIET)
    proc = serve(served_plan)
    engine = await Engine.open(load_plan(local_plan), record_start="bench")
    await engine.rollout.ensure_flag_file()
    client = await ServiceClient.connect(served_plan.parent / "session.duckdb")
    out: dict[str, tuple[list[float], list[float]]] = {"status": ([], []), "advance": ([], [])}
    try:
        for _ in range(calls):
            for name, req, undo in (
                    ("status", m.StatusRequest(), None),
                    ("advance", m.AdvanceRequest(component="storage", override="bench"),
                     m.StepBackRequest(component="storage", reason="bench"))):
                t0 = time.perf_counter()
                await OPS[name].fn(engine, req)
                out[name][0].append((time.perf_counter() - t0) * 1000)
                t0 = time.perf_counter()
                await client.call(name, req)
                out[name][1].append((time.perf_counter() - t0) * 1000)
                if undo is not None:
                    await OPS["step_back"].fn(engine, undo)
                    await client.call("step_back", undo)
    finally:
        await client.close()
        await engine.close()
        stop(proc)
    return out


async def attached_keys(tmp: Path, presses: int) -> tuple[list[float], int, int]:
    plan = write_plan(tmp / "load", '[metrics]\nsource = "jsonl"\npath = "ops.jsonl"\n'
                      '[alerts.auto_rollback]\nmode = "off"\n' + VALIDATORS)
    proc = serve(plan)
    db = plan.parent / "session.duckdb"
    wl = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(plan.parent / "flags.json"),
                           "--metrics", str(plan.parent / "ops.jsonl"), "--rate", "5000"])
    followers = [subprocess.Popen([sys.executable, "-c", FOLLOWER, str(db)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True) for _ in range(4)]
    session = app = None
    validate = None
    try:
        for f in followers:
            assert f.stdout.readline().strip() == "attached"
        session = await AttachedSession.open(db, operator="bench")
        await session.call("advance", m.AdvanceRequest(component="storage", override="bench"))
        validate = asyncio.ensure_future(session.call("validate", m.ValidateRequest(phase="post")))
        app = TimedApp(session=session, keymap={})
        async with app.run_test(size=(160, 48)) as pilot:
            deadline = time.monotonic() + 60
            while len(session.running_validators) < 50 or session.stats("storage").ops == 0:
                if time.monotonic() > deadline:
                    raise RuntimeError("the service never reported 50 running validators and live figures")
                await pilot.pause(0.1)
            await switch_screens(pilot, presses)
            running, ops = len(session.running_validators), session.stats("storage").ops
            await session.call("cancel", m.CancelRequest())
            await validate
    finally:
        for f in followers:
            f.stdin.close()
            f.wait(30)
        wl.terminate()
        wl.wait(10)
        if session is not None:
            await session.close()
        stop(proc)
    return list(TimedApp.repaints), running, ops


async def time_to_figures(make_session) -> float:
    """Seconds from nothing to the dashboard's first row showing operations."""
    from mdm_console.ui.app import ConsoleApp

    t0 = time.perf_counter()
    session, close = await make_session()
    app = ConsoleApp(session=session, keymap={})
    try:
        async with app.run_test(size=(160, 48)) as pilot:
            table = app.screen.query_one("HealthTable")
            deadline = time.monotonic() + 60
            while True:
                row = table.get_row("storage") if table.row_count else None
                cells = dict(zip(table.shown, row)) if row else {}
                if cells.get("new_ops", "0").lstrip("~") not in ("0", "-", ""):
                    return time.perf_counter() - t0
                if time.monotonic() > deadline:
                    raise RuntimeError("no figures within 60 s")
                await pilot.pause(0.01)
    finally:
        await close()


async def start_ups(tmp: Path, runs: int) -> tuple[list[float], list[float]]:
    feed = tmp / "startup-ops.jsonl"
    body = f'[metrics]\nsource = "jsonl"\npath = "{feed}"\n[alerts.auto_rollback]\nmode = "off"\n'
    served_plan = write_plan(tmp / "startup-served", body)
    wl = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags",
                           str(served_plan.parent / "flags.json"), "--metrics", str(feed), "--rate", "500"])
    proc = serve(served_plan)
    attached, embedded = [], []
    try:
        client = await ServiceClient.connect(served_plan.parent / "session.duckdb")
        await client.call("advance", m.AdvanceRequest(component="storage", override="bench"))
        await client.close()
        for n in range(runs):
            async def attach():
                s = await AttachedSession.open(served_plan.parent / "session.duckdb")
                return s, s.close

            async def embed():
                plan = write_plan(tmp / f"startup-embedded-{n}", body)
                e = await Engine.open(load_plan(plan), record_start="bench")
                await e.rollout.ensure_flag_file()
                await e.rollout.advance("storage", override="bench")
                mon = LiveMonitor(e)
                await mon.start()

                async def close():
                    await mon.stop()
                    await e.close()

                return EmbeddedSession(e, mon), close

            attached.append(await time_to_figures(attach))
            embedded.append(await time_to_figures(embed))
    finally:
        wl.terminate()
        wl.wait(10)
        stop(proc)
    return attached, embedded


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--calls", type=int, default=200)
    ap.add_argument("--presses", type=int, default=80)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        trips = asyncio.run(round_trips(tmp, args.calls))
        for name, (local, socket_) in trips.items():
            rows.append({"figure": f"{name} over the socket p50 / p99", "goal": "",
                         "value": f"{statistics.median(socket_):.2f} / {percentile(socket_, 99):.2f}", "unit": "ms",
                         "baseline": f"{statistics.median(local):.2f} / {percentile(local, 99):.2f}",
                         "ratio": round(statistics.median(socket_) / statistics.median(local), 2),
                         "how": f"{len(socket_)} calls to `mdm-console serve` (a subprocess) alternating with the "
                                "same operation in-process on an engine of its own (baseline), quiet sessions"})
        repaints, running, ops = asyncio.run(attached_keys(tmp, args.presses))
        rows.append({"figure": "attached console: key to repaint p50", "goal": "",
                     "value": round(statistics.median(repaints), 1), "unit": "ms",
                     "how": f"{len(repaints)} screen switches of a console attached to `serve`, 4 more consoles "
                            "attached (processes), key event to compositor update"})
        rows.append({"figure": "attached console: key to repaint p99", "goal": "<= 50 ms",
                     "value": round(percentile(repaints, 99), 1), "unit": "ms",
                     "how": f"workload 5 000 ops/s into the service's feed ({ops} storage ops in the window), "
                            f"{running} validators running in the service at the end; max {max(repaints):.1f} ms"})
        attached, embedded = asyncio.run(start_ups(tmp, args.runs))
        rows.append({"figure": "start-up to live figures, attached", "goal": "",
                     "value": round(statistics.median(attached), 3), "unit": "s",
                     "baseline": round(statistics.median(embedded), 3),
                     "ratio": round(statistics.median(attached) / statistics.median(embedded), 2),
                     "how": f"median of {len(attached)}: attach to `serve` (plan, state, stream) until the dashboard "
                            "shows the canary's operations; baseline: open the session embedded on the same feed "
                            "(engine, monitor, first read)"})
    emit(rows, args.json)


if __name__ == "__main__":
    os.environ.setdefault("MDM_OPERATOR", "bench")
    main()
