"""Fault to flag at 0 %: how long the auto-rollback policy takes to take a failing canary back, at 5 % and at
25 %, with the policy judging the new path over its own short window (the plan's default 30 s) against the
same fault judged over the whole 300 s health window (what the policy used before it had a window of its own).

Usage: python benchmarks/autorollback.py [--warm 120] [--for-seconds 10] [--fault 0.10] [--rate 200] [--json]

Each run is a fresh session: the real engine and live monitor (loops running as in the console), the real demo
workload (the flagd provider on our flag file, 4 components, --rate ops/s in all), `storage` advanced to the
stage, `--warm` seconds of healthy traffic there, then the workload restarted with `--fault` on storage's new
path. Measured: from the first line the faulty workload wrote (its own timestamp) to the flag file giving
storage 0 %. The four runs (2 stages x 2 windows) go side by side in one process, on the same machine load.

What to expect (operator guide, "How fast a fault rolls back"): with error_rate_above T, a baseline new-path
error rate b and a fault at rate r, the new path's rate over a window of W seconds passes T about
W (T - b) / (r - b) seconds after the fault starts (when the stage has had healthy traffic for at least W),
then the policy waits for_seconds; add up to one 5 s bucket and one 1 s tick.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

from _common import emit, parse_args

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan

PLAN = """\
version = 1
[cutover]
name = "autorollback benchmark"
flag_file = "state/flags.json"
session_db = "state/session.duckdb"
[gate]
min_stage_seconds = 0
[[components]]
id = "config"
flag_key = "mdm.new_config"
[[components]]
id = "storage"
flag_key = "mdm.new_backend"
[[components]]
id = "features"
flag_key = "mdm.new_features"
[[components]]
id = "registration"
flag_key = "mdm.new_registration"
[metrics]
source = "jsonl"
path = "metrics/ops.jsonl"
window_seconds = 300
[alerts.auto_rollback]
mode = "auto"
error_rate_above = 0.05
for_seconds = {for_seconds}
window_seconds = {policy_window}
"""
STAGES = {"canary": 1, "early_adopters": 2}  # advances from testing 0 %
LIMIT_S = 900.0


def workload(root: Path, flags: Path, rate: float, fault: float | None) -> subprocess.Popen:
    args = [sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(flags), "--metrics",
            str(root / "metrics" / "ops.jsonl"), "--rate", str(rate), "--seed", "11"]
    if fault is not None:
        args += ["--fault", f"storage:{fault}"]
    return subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def first_ts_after(path: Path, offset: int) -> float | None:
    with open(path, "rb") as fh:
        fh.seek(offset)
        line = fh.readline()
    if not line.endswith(b"\n"):
        return None
    return datetime.fromisoformat(json.loads(line)["ts"]).timestamp()


def storage_percent(flags: Path) -> float | None:
    try:
        return json.loads(flags.read_text())["flags"]["mdm.new_backend"]["metadata"]["percent"]
    except (OSError, ValueError, KeyError):
        return None


async def one_run(stage: str, policy_window: float, args) -> dict:
    root = Path(tempfile.mkdtemp(prefix="mdm-autorollback-"))
    (root / "metrics").mkdir()
    (root / "mdm-plan.toml").write_text(PLAN.format(for_seconds=args.for_seconds, policy_window=policy_window))
    e = await Engine.open(load_plan(root / "mdm-plan.toml"), record_start="benchmark")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    await m.start()
    flags = e.loaded.flag_file
    proc = workload(root, flags, args.rate, None)
    try:
        for _ in range(STAGES[stage]):
            await e.rollout.advance("storage", override="benchmark")
        await asyncio.sleep(args.warm)  # healthy traffic at the stage, as a real canary has before a fault
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        ops = root / "metrics" / "ops.jsonl"
        offset = ops.stat().st_size
        proc = workload(root, flags, args.rate, args.fault)
        t0 = time.monotonic()
        fault_at = None
        while time.monotonic() - t0 < LIMIT_S:
            if fault_at is None:
                fault_at = first_ts_after(ops, offset)
            if fault_at is not None and storage_percent(flags) == 0:
                took = time.time() - fault_at
                break
            await asyncio.sleep(0.01)
        else:
            took = None
        proc.terminate()
        await asyncio.to_thread(proc.wait, 10)
        started = next((ev for ev in await e.events() if ev.kind == "rollback.started"), None)
    finally:
        if proc.poll() is None:
            proc.kill()
        await m.stop()
        await e.close()
    pct = {"canary": 5, "early_adopters": 25}[stage]
    return {"stage": stage, "percent": pct, "policy_window": policy_window, "took": took,
            "reason": started.payload.get("reason") if started else None}


async def main_async(args) -> list[dict]:
    runs = [one_run(stage, window, args) for stage in STAGES for window in (30.0, 300.0)]
    done = await asyncio.gather(*runs)
    by = {(r["stage"], r["policy_window"]): r for r in done}
    rows = []
    for stage in STAGES:
        ours, old = by[(stage, 30.0)], by[(stage, 300.0)]
        value = None if ours["took"] is None else round(ours["took"], 1)
        base = None if old["took"] is None else round(old["took"], 1)
        rows.append({
            "figure": f"fault to flag at 0 %, {ours['percent']} % stage", "goal": "policy window, not diluted",
            "value": value if value is not None else "never", "unit": "s", "baseline": base,
            "ratio": round(value / base, 2) if value and base else None,
            "how": f"demo workload {args.rate:g} ops/s over 4 components, {args.warm:g} s healthy at the stage, "
                   f"then {args.fault:.0%} errors on storage's new path; policy window 30 s (baseline: the same "
                   f"fault judged over the 300 s health window, same run); error_rate_above 0.05, for_seconds "
                   f"{args.for_seconds:g}; from the faulty workload's first line to the flag file at 0 %"})
    return rows


def main() -> None:
    args = parse_args(warm=120.0, for_seconds=10.0, fault=0.10, rate=200.0)
    emit(asyncio.run(main_async(args)), args.json)


if __name__ == "__main__":
    main()
