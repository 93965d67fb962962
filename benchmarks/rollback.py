"""Rollback figures (prints them; not a test).

- flags-only rollback, from the call to the flag file fsynced, p50/p99 over 50 runs (goal p99
  <= 100 ms); baseline: the bare atomic write of the same file (temp, fsync, rename, fsync dir);
- full rollback of the demo plan including its `rollback` verification validators (goal <= 10 s).

Usage: python benchmarks/rollback.py [--quick] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from pathlib import Path

from _common import emit, percentile, write_plan

from mdm_console.engine.core import Engine
from mdm_console.engine.rollback import RollbackRequest
from mdm_console.flags.flagfile import write_atomic
from mdm_console.plan.demo_setup import prepare_demo
from mdm_console.plan.load import load_plan


async def flags_rollbacks(tmp: Path, runs: int) -> tuple[list[float], list[float]]:
    engine = await Engine.open(load_plan(write_plan(tmp / "flags", "")), record_start="bench")
    await engine.rollout.ensure_flag_file()
    timings, baseline = [], []
    try:
        for _ in range(runs):
            await engine.rollout.advance("storage", override="benchmark")
            await engine.rollback.run(RollbackRequest("flags", reason="benchmark"))
            # rollback.finished records flags_s: measured inside the run, from the call to the fsynced file
            ev = (await engine.events(engine.state.head_seq - 1))[-1]
            timings.append(ev.payload["flags_s"] * 1000)
            data = engine.loaded.flag_file.read_bytes()
            t1 = time.perf_counter()
            await asyncio.to_thread(write_atomic, engine.loaded.flag_file, data)
            baseline.append((time.perf_counter() - t1) * 1000)
    finally:
        await engine.close()
    return timings, baseline


async def full_demo_rollback(tmp: Path) -> dict:
    plan = prepare_demo(tmp / "demo")
    engine = await Engine.open(load_plan(plan, is_demo=True), record_start="bench")
    await engine.rollout.ensure_flag_file()
    try:
        for cid in ("storage", "features", "config"):
            for _ in range(2):
                await engine.rollout.advance(cid, override="benchmark")
        result = await engine.rollback.run(RollbackRequest("full", reason="benchmark"))
        return {"elapsed_s": result.elapsed_s, "flags_s": result.flags_s,
                "validators": len(result.verification.results) if result.verification else 0,
                "verified": result.verified}
    finally:
        await engine.close()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--quick", action="store_true", help="20 flags-only runs instead of 50")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    runs = 20 if args.quick else 50
    with tempfile.TemporaryDirectory() as tmp:
        timings, baseline = asyncio.run(flags_rollbacks(Path(tmp), runs))
        full = asyncio.run(full_demo_rollback(Path(tmp)))
    p99, base99 = percentile(timings, 99), percentile(baseline, 99)
    rows = [
        {"figure": "flags-only rollback to fsync, p50", "goal": "", "value": round(statistics.median(timings), 2),
         "unit": "ms", "how": f"{runs} runs; each after an advance to canary"},
        {"figure": "flags-only rollback to fsync, p99", "goal": "<= 100 ms", "value": round(p99, 2), "unit": "ms",
         "baseline": round(base99, 2), "ratio": round(p99 / base99, 1),
         "how": "point + intent event + atomic write + fsync; baseline = the bare atomic write (p99)"},
        {"figure": "full demo rollback incl. verification", "goal": "<= 10 s", "value": round(full["elapsed_s"], 3),
         "unit": "s", "how": f"3 components at early_adopters, config restored, {full['validators']} rollback "
                             f"validators ({'all passed' if full['verified'] else 'NOT all passed'}); "
                             f"flag file reached after {full['flags_s'] * 1000:.0f} ms"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
