"""A second instance on a held session db: process start to exit 3 (goal: under a second).

How: one process holds the demo-sized session db as its writer; `mdm-console advance ...` (a writer)
is started against it N times and timed from spawn to exit; baseline: `mdm-console --version`
(interpreter and CLI start-up only) timed the same way in the same run.

Usage: python benchmarks/lock.py [--runs N] [--json]
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from _common import emit, parse_args, write_plan

HOLDER = textwrap.dedent("""
    import asyncio, sys
    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan
    async def go():
        e = await Engine.open(load_plan(sys.argv[1]), record_start="holder")
        print("ready", flush=True)
        await asyncio.to_thread(sys.stdin.readline)
        await e.close()
    asyncio.run(go())
""")


def timed(args: list[str], expect: int) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-m", "mdm_console", *args], capture_output=True, text=True)
    took = time.perf_counter() - t0
    if r.returncode != expect:
        raise RuntimeError(f"exit {r.returncode}, expected {expect}: {r.stderr.strip()}")
    return took, r.stderr.strip()


def main() -> None:
    args = parse_args(runs=5)
    with tempfile.TemporaryDirectory() as tmp:
        plan = write_plan(Path(tmp), "")
        holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(plan)], stdin=subprocess.PIPE,
                                  stdout=subprocess.PIPE, text=True)
        try:
            assert holder.stdout.readline().strip() == "ready"
            locked, base, message = [], [], ""
            for _ in range(args.runs):
                base.append(timed(["--version"], 0)[0])
                took, message = timed(["advance", "storage", "--override", "x", "--plan", str(plan)], 3)
                locked.append(took)
        finally:
            holder.stdin.close()
            holder.wait(30)
    m, b = statistics.median(locked), statistics.median(base)
    emit([{"figure": "second instance on a held db exits 3", "goal": "< 1 s", "value": round(m, 3), "unit": "s",
           "baseline": round(b, 3), "ratio": round(m / b, 2),
           "how": f"median of {args.runs} spawns of `mdm-console advance` to exit 3 (max {max(locked):.3f} s); "
                  f"it says: {' '.join(message.split())[:100]}…; baseline = `mdm-console --version`"}], args.json)


if __name__ == "__main__":
    main()
