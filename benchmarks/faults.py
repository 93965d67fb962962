"""Fault injection: for each fault, how long until the console shows it, and whether the auto-rollback
policy still takes a failing canary back to 0 % afterwards.

Usage: python benchmarks/faults.py [--json]

Each fault runs on a fresh session: the real engine and live monitor (its loops running as in the console),
a JSONL feed, storage at canary (5 %) and the policy on `auto`. "Shown" is the first thing the operator
would see: an event and alert, the feed's error line, or the status line's LOST / NOT WRITABLE state.
Then the new path fails half of 40 operations a second and the time until storage is back at 0 % is measured
(the policy judges only the stage's own evidence: from the first whole 5-s bucket after the advance).
The full-disk fault needs root (a small tmpfs); it is reported as skipped otherwise.

Then the faults of the session's owner, `mdm-console serve` as a real process (_servefaults.py): a kill -9
between a rollback's intent and its write, descriptor starvation, the owner stopped, its socket deleted, the
owner killed and started again with a console attached.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path

from _common import emit, parse_args

from mdm_console.engine import live
from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds.jsonl import JsonlFeed
from mdm_console.plan.load import load_plan

PLAN = """\
version = 1
[cutover]
name = "faults"
flag_file = "{state}/flags.json"
session_db = "{state}/session.duckdb"
[gate]
min_stage_seconds = 0
[[components]]
id = "storage"
flag_key = "mdm.new_backend"
[metrics]
source = "jsonl"
path = "ops.jsonl"
interval_seconds = 1
window_seconds = 30
[alerts.auto_rollback]
mode = "auto"
error_rate_above = 0.05
for_seconds = 0
"""
LIMIT_S = 30.0
WHY_NOT = {  # where the policy cannot act, by design
    "flag_dir": " (the flag file cannot be written while a directory stands in its place; the rollback is "
                "refused and recorded as rollback.auto_failed)",
    "db_deleted": " (no change is made that cannot be recorded: the console says SESSION LOG LOST)",
}


def line(ok: bool) -> str:
    ts = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    return json.dumps({"ts": ts, "component": "storage", "outcome": "success" if ok else "error",
                       "latency_ms": 5, "variant": "new"})


async def until(predicate: Callable[[], bool], limit: float = LIMIT_S) -> float | None:
    t0 = time.monotonic()
    while not predicate():
        if time.monotonic() - t0 > limit:
            return None
        await asyncio.sleep(0.01)
    return time.monotonic() - t0


class Session:
    def __init__(self, root: Path, state: Path):
        self.root, self.state = root, state
        (root / "mdm-plan.toml").write_text(PLAN.format(state=state))
        (root / "ops.jsonl").write_text("")

    async def start(self) -> None:
        self.engine = await Engine.open(load_plan(self.root / "mdm-plan.toml"), record_start="faults")
        await self.engine.rollout.ensure_flag_file()
        await self.engine.rollout.advance("storage", override="fault drill")
        self.monitor = LiveMonitor(self.engine, system=False)
        await self.monitor.start()
        await until(lambda: self.monitor.ticks >= 2)  # running, as a console is when a fault comes

    def kinds(self) -> set[str]:
        return {a for a in self.engine.state.alerts}

    async def rollback_acts(self) -> str:
        """40 operations of the new path a second, half failing, until storage is at 0 % (or 30 s): the policy
        judges only the stage's own evidence, from the first whole 5-s bucket after the stage began."""
        t0 = time.monotonic()
        while self.engine.state.components["storage"].percent != 0 and time.monotonic() - t0 < LIMIT_S:
            with open(self.root / "ops.jsonl", "a") as fh:
                fh.write("".join(line(i % 2 == 0) + "\n" for i in range(40)))
            await until(lambda: self.engine.state.components["storage"].percent == 0, 1.0)
        took = time.monotonic() - t0
        if self.engine.state.components["storage"].percent != 0:
            return "no"
        return f"yes, 0 % after {took:.1f} s of failing traffic"

    async def stop(self) -> None:
        await self.monitor.stop()
        await self.engine.close()


async def run_fault(name: str, inject: Callable[[Session], Awaitable[Callable[[], bool]]],
                    state_dir: Callable[[Path], Path] | None = None) -> dict:
    with tempfile.TemporaryDirectory(ignore_cleanup_errors=True) as tmp:
        root = Path(tmp)
        state = state_dir(root) if state_dir else root / "state"
        s = Session(root, state)
        await s.start()
        try:
            shown = await inject(s)
            took = await until(shown)
            acts = await s.rollback_acts()
            if acts == "no":
                acts += WHY_NOT.get(inject.__name__, "")
        finally:
            await s.stop()
            if state_dir:
                subprocess.run(["umount", str(state)], capture_output=True)
    return {"figure": f"fault: {name}", "goal": "shown, policy acts", "unit": "s",
            "value": None if took is None else round(took, 2),
            "how": f"time until the console shows it ({'never within 30 s' if took is None else 'measured'}); "
                   f"auto-rollback afterwards: {acts}"}


async def feed_dies(s: Session):
    real = JsonlFeed.run
    calls = {"n": 0}

    async def dies_once(self, stop, lock=None, every=0.5):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("injected")
        await real(self, stop, lock, every)

    JsonlFeed.run = dies_once
    await s.monitor.stop()  # start the feed again with the fault in place
    s.monitor = LiveMonitor(s.engine, system=False)
    await s.monitor.start()

    def shown() -> bool:
        if s.monitor.restarts.get("feed", 0) > 0 and s.monitor.feed.status.error:
            JsonlFeed.run = real
            return True
        return False

    return shown


async def bad_line(s: Session):
    before = s.monitor.feed.status.bad
    with open(s.root / "ops.jsonl", "a") as fh:
        fh.write("[" * 30_000 + "\n")
    return lambda: s.monitor.feed.status.bad > before


async def flag_dir(s: Session):
    flag = s.engine.loaded.flag_file
    flag.unlink()
    flag.mkdir()
    return lambda: "flags.drift" in s.kinds()


async def db_deleted(s: Session):
    db = s.engine.store.path
    db.unlink()
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    return lambda: bool(s.engine.store.lost)


async def plan_edited(s: Session):
    p = s.root / "mdm-plan.toml"
    p.write_text(p.read_text().replace('name = "faults"', 'name = "faults, edited"'))
    return lambda: "plan.file" in s.kinds()


async def clock_step(s: Session):
    class Shifted:
        def __getattr__(self, name):
            return getattr(time, name)

        def time(self):
            return time.time() + 3600

    live.time = Shifted()
    return lambda: "clock.step" in s.kinds()


async def disk_full(s: Session):
    filler = s.state / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"x" * 65536)
                fh.flush()
        except OSError:
            pass
    with open(s.root / "ops.jsonl", "a") as fh:  # data to store, so a store pass fails
        fh.write("".join(line(True) + "\n" for _ in range(10)))
    try:  # and an operator's action, as a key press would make
        await s.engine.record("checklist.note", None, {"item": "-", "text": "n" * 100_000})
    except Exception:  # noqa: BLE001 - expected: the disk is full
        pass

    def shown() -> bool:
        if s.engine.store.write_error or s.monitor.store_error:
            filler.unlink(missing_ok=True)  # space comes back; the policy should act again
            return True
        return False

    return shown


def tmpfs(root: Path) -> Path:
    mnt = root / "state"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        raise OSError(r.stderr.decode().strip())
    return mnt


async def main_async() -> list[dict]:
    rows = []
    faults = [("a feed task dies", feed_dies, None), ("one 60 kB line of nested brackets", bad_line, None),
              ("the flag file replaced by a directory", flag_dir, None),
              ("the session db deleted", db_deleted, None), ("the plan file edited", plan_edited, None),
              ("the wall clock stepped 1 h ahead", clock_step, None)]
    for name, inject, state in faults:
        real_time = live.time
        try:
            rows.append(await run_fault(name, inject, state))
        finally:
            live.time = real_time
    if os.geteuid() == 0 and shutil.which("mount"):
        rows.append(await run_fault("the disk of the state directory full", disk_full, tmpfs))
    else:
        rows.append({"figure": "fault: the disk of the state directory full", "goal": "shown, policy acts",
                     "value": None, "unit": "s", "how": "skipped: needs root to mount a small tmpfs"})
    from _servefaults import rows as owner_rows

    rows += await asyncio.to_thread(owner_rows)
    return rows


def main() -> None:
    args = parse_args()
    rows = asyncio.run(main_async())
    for r in rows:
        r["value"] = "never" if r["value"] is None else r["value"]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
