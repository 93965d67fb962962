"""Metric ingest figures (prints them; not a test).

- JSONL lines/s parsed, validated and windowed on one core (goal >= 100 000/s; issue 23: >= 400 000/s with the
  timestamps spread); baseline: bare `json.loads` of the same lines in the same run. Twice: every line with the
  same timestamp (one bucket per component and path: the best case), and with the timestamps spread in order
  over the 300-s window like real traffic (a new bucket every 5 s of it);
- CPU of the console's engine side (live monitor: tail, windows, alerts, storing) while the
  real demo workload writes 5 000 ops/s (aggregate lines) into its feed, measured with
  psutil over a fixed span.

Usage: python benchmarks/ingest.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from _common import emit

import psutil

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds.jsonl import JsonlFeed
from mdm_console.feeds.windows import Windows
from mdm_console.plan.load import load_plan

COMPS = ["config", "storage", "features", "registration"]


def make_lines(n: int, spread: bool = False) -> bytes:
    now = datetime.now(UTC).timestamp()
    out = []
    for i in range(n):
        at = now - 300 + 300 * i / n if spread else now
        stamp = datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
        out.append(json.dumps({"ts": stamp, "component": COMPS[i % 4], "outcome": "error" if i % 50 == 0 else "success",
                               "latency_ms": 5 + (i % 97), "variant": "new" if i % 3 == 0 else "old"}))
    return ("\n".join(out) + "\n").encode()


def ingest_rate(tmp: Path, n: int, spread: bool = False) -> tuple[float, float]:
    data = make_lines(n, spread)
    path = tmp / "ops.jsonl"
    path.write_bytes(data)
    windows = Windows(COMPS, 300)
    feed = JsonlFeed(path, set(COMPS), windows.add, 5)
    t0 = time.process_time()
    samples = feed.read_available()
    for s in samples:
        windows.add(s)
    cpu = time.process_time() - t0
    assert len(samples) == n and feed.status.bad == 0
    lines = data.splitlines()
    t1 = time.process_time()
    for line in lines:
        json.loads(line)
    base = time.process_time() - t1
    return n / cpu, n / base


async def console_cpu(tmp: Path, seconds: float) -> tuple[float, int]:
    plan = tmp / "mdm-plan.toml"
    plan.write_text("version = 1\n[cutover]\nname = \"bench\"\nflag_file = \"flags.json\"\n"
                    + "".join(f'[[components]]\nid = "{c}"\nflag_key = "mdm.{c}"\n' for c in COMPS)
                    + '[metrics]\nsource = "jsonl"\npath = "ops.jsonl"\n[alerts.auto_rollback]\nmode = "off"\n')
    e = await Engine.open(load_plan(plan), record_start="bench")
    await e.rollout.ensure_flag_file()
    for c in COMPS:
        await e.rollout.advance(c, override="bench")  # 5 % of traffic on the new path
    m = LiveMonitor(e, system=True)
    await m.start()
    wl = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(e.loaded.flag_file),
                           "--metrics", str(tmp / "ops.jsonl"), "--rate", "5000"])
    me = psutil.Process()
    await asyncio.sleep(3)  # warm-up: provider ready, first lines flowing
    c0 = me.cpu_times()
    await asyncio.sleep(seconds)
    c1 = me.cpu_times()
    ops = sum(m.stats(c).ops for c in COMPS)
    wl.terminate()
    wl.wait(10)
    await m.stop()
    await e.close()
    used = (c1.user - c0.user) + (c1.system - c0.system)
    return 100 * used / seconds, ops


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    n = 100_000 if args.quick else 500_000
    span = 10 if args.quick else 30
    with tempfile.TemporaryDirectory() as tmp:
        rate, base = ingest_rate(Path(tmp), n)
        spread_rate, spread_base = ingest_rate(Path(tmp), n, spread=True)
        (Path(tmp) / "console").mkdir()
        cpu, ops = asyncio.run(console_cpu(Path(tmp) / "console", span))
    rows = [
        {"figure": "JSONL ingest, lines/s on one core", "goal": ">= 100000/s", "value": round(rate), "unit": "lines/s",
         "baseline": round(base), "ratio": round(rate / base, 2),
         "how": f"{n} per-operation lines read, validated, windowed (process CPU time), every line with the same "
                f"timestamp; baseline = json.loads alone"},
        {"figure": "JSONL ingest, timestamps spread, lines/s on one core", "goal": ">= 400000/s",
         "value": round(spread_rate), "unit": "lines/s", "baseline": round(spread_base),
         "ratio": round(spread_rate / spread_base, 2),
         "how": f"{n} per-operation lines, their timestamps spread in order over the 300-s window (a new bucket "
                f"every 5 s); baseline = json.loads alone"},
        {"figure": "console CPU with the workload at 5 000 ops/s", "goal": "", "value": round(cpu, 1),
         "unit": "% core", "how": f"psutil CPU of the engine process over {span} s (tail of aggregate lines, windows, "
                                   f"alerts, storing); {ops} ops in the window"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
