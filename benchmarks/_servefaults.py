"""The faults of the session's owner (`mdm-console serve` as a real process) and its clients, for faults.py.

Each runs on a fresh session in a temporary directory: a JSONL feed the script writes, storage at canary (5 %),
the auto-rollback policy on `auto` (for_seconds 0, window 30 s).
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import resource
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from faults import PLAN as BASE

# faults.py's session (storage at canary, a JSONL feed, the policy on auto) with its state in `state/`, the
# policy's own window, and a checklist item to write notes on.
PLAN = BASE.format(state="state") + """window_seconds = 30
[[checklist]]
id = "a"
section = "Drill"
title = "A note to write"
"""
LIMIT_S = 60.0


class Serve:
    """`mdm-console serve` and its JSON log lines."""

    def __init__(self, root: Path, env: dict | None = None, limit_files: int | None = None):
        def limits() -> None:
            if limit_files:
                resource.setrlimit(resource.RLIMIT_NOFILE, (limit_files, limit_files))

        self.proc = subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan",
                                      str(root / "mdm-plan.toml")], stderr=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                     text=True, env={**os.environ, **(env or {})}, preexec_fn=limits)
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.lines.put({"raw": raw})

    def wait_for(self, pred, timeout: float = LIMIT_S) -> dict | None:
        for line in self.seen:
            if pred(line):
                return line
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            try:
                line = self.lines.get(timeout=max(0.0, end - time.monotonic()))
            except queue.Empty:
                return None
            self.seen.append(line)
            if pred(line):
                return line
        return None

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.terminate()
            try:
                self.proc.wait(30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def cli(root: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "mdm_console", *args, "--plan", str(root / "mdm-plan.toml")],
                          capture_output=True, text=True, timeout=timeout)


def workload(root: Path) -> subprocess.Popen:
    """The demo workload on this session's flag file: 600 operations a second, half of storage's new path
    failing (a bad canary), its lines into the plan's feed."""
    return subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags",
                             str(root / "state" / "flags.json"), "--metrics", str(root / "ops.jsonl"), "--rate", "600",
                             "--fault", "storage:0.5", "--seed", "1"], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


def stop_proc(proc: subprocess.Popen) -> None:
    proc.terminate()
    try:
        proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(10)


def percent(root: Path) -> float | None:
    try:
        return json.loads((root / "state" / "flags.json").read_text())["flags"]["mdm.new_backend"]["metadata"][
            "percent"]
    except (OSError, ValueError, KeyError):
        return None


def until(pred, limit: float = LIMIT_S) -> float | None:
    t0 = time.monotonic()
    while not pred():
        if time.monotonic() - t0 > limit:
            return None
        time.sleep(0.02)
    return time.monotonic() - t0


def fresh() -> tuple[tempfile.TemporaryDirectory, Path]:
    tmp = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
    root = Path(tmp.name)
    (root / "mdm-plan.toml").write_text(PLAN)
    (root / "ops.jsonl").write_text("")
    return tmp, root


def row(name: str, goal: str, value: float | None, how: str) -> dict:
    return {"figure": f"fault: {name}", "goal": goal, "unit": "s", "value": None if value is None else round(value, 2),
            "how": how}


def crash_mid_rollback() -> dict:
    """kill -9 of serve between the policy's rollback intent and its flag write; serve started again, nobody acts."""
    tmp, root = fresh()
    with tmp:
        # The service's effects: 1 the first flag file, 2 the advance, 3 the policy's rollback (killed there).
        s = Serve(root, {"MDM_FAULT_POINT": "effects.before_write", "MDM_FAULT_HIT": "3"})
        load = workload(root)
        try:
            s.wait_for(lambda x: x.get("msg") == "serving")
            cli(root, "advance", "storage", "--override", "fault drill")
            try:
                s.proc.wait(LIMIT_S)
            except subprocess.TimeoutExpired:
                pass
            killed = s.proc.returncode == -signal.SIGKILL
            s.stop()
            at_kill = percent(root)
            t0 = time.monotonic()
            s = Serve(root)
            took = until(lambda: percent(root) == 0)
            took = None if took is None else time.monotonic() - t0
        finally:
            s.stop()
            stop_proc(load)
    return row("kill -9 of serve between a rollback's intent and its write", "0 % within the policy's window "
               "(30 s) after the restart", took,
               f"serve killed at the fault point: {killed}, flag at {at_kill} % then; time from starting serve "
               "again to the flag file at 0 % (the demo workload failing half of storage's new path meanwhile), "
               "with no person acting")


def starved(streams: int, limit_files: int) -> tuple[float | None, str]:
    """A canary failing while `streams` event streams are open against a serve limited to `limit_files`
    descriptors: (time from the failures written to the flag at 0 %, what was refused)."""
    from mdm_console.client.remote import ServiceClient

    tmp, root = fresh()
    with tmp:
        s = Serve(root, limit_files=limit_files)
        load, noted = None, []
        try:
            s.wait_for(lambda x: x.get("msg") == "serving")
            advanced = cli(root, "advance", "storage", "--override", "fault drill").returncode == 0
            advanced_at = time.time()

            async def hold_streams_and_fail() -> float | None:
                db = root / "state" / "session.duckdb"
                clients, tasks = [], []
                for _ in range(streams):
                    try:
                        c = await ServiceClient.connect(db, timeout=5)
                    except Exception:  # noqa: BLE001 - refused past the cap: that is the point
                        continue
                    clients.append(c)

                    async def read(c=c):
                        async for _ in c.events(0):
                            await asyncio.sleep(3600)  # never reads on: a stalled client

                    tasks.append(asyncio.create_task(read()))
                # The same start against the policy's 5-s buckets in every run: the stage's evidence has begun
                # (a whole bucket after the advance) and the failures start 0.5 s into a bucket.
                await asyncio.sleep(max(0.0, advanced_at + 6.0 - time.time()))
                await asyncio.sleep(5.5 - time.time() % 5.0 if time.time() % 5.0 > 0.5 else 0.5 - time.time() % 5.0)
                r = await asyncio.to_thread(cli, root, "note", "a", "an operator while the streams are held")
                noted.append(f"{r.returncode}" + (f" ({r.stderr.strip()[-150:]})" if r.returncode else ""))
                nonlocal load
                load = workload(root)  # the canary starts failing now
                t0 = time.monotonic()
                while percent(root) != 0:
                    if time.monotonic() - t0 > LIMIT_S:
                        break
                    await asyncio.sleep(0.05)
                took = time.monotonic() - t0 if percent(root) == 0 else None
                for t in tasks:
                    t.cancel()
                for c in clients:
                    await c.close()
                return took

            took = asyncio.run(hold_streams_and_fail()) if advanced else None
        finally:
            s.stop()
            if load is not None:
                stop_proc(load)
        s.wait_for(lambda x: False, 0.5)  # what it logged up to its stop
        said = {}
        for x in s.seen:
            if x.get("level") in ("warning", "error") and x.get("msg") not in ("event",):
                said[x.get("msg")] = said.get(x.get("msg"), 0) + 1
    return took, ("" if advanced else "the advance was refused; ") + (
        f"an operator's note meanwhile: exit {noted[0]}; " if noted else "") + "serve's warning and error lines: " + (", ".join(f"{k} x{n}" for k, n in said.items()) or "none")


def descriptor_starvation(streams: int = 70, limit_files: int = 64, runs: int = 5) -> list[dict]:
    """Quiet and starved runs alternated: the time to 0 % depends most on where the failures start against the
    policy's 5-s buckets, so one pair says little; the medians of `runs` each are compared."""
    import statistics

    quiet, busy, said = [], [], ""
    for _ in range(runs):
        quiet.append(starved(0, limit_files)[0])
        took, said = starved(streams, limit_files)
        busy.append(took)
    acted = [t for t in busy if t is not None]
    base = [t for t in quiet if t is not None]
    fmt = ", ".join("never" if t is None else f"{t:.1f}" for t in busy)
    how = (f"serve under `ulimit -n {limit_files}`, storage at 5 %; {streams} clients opening event streams that "
           f"never read on, then the demo workload failing half of its new path: time from the failures' start to "
           f"0 %, median of {runs} ({fmt} s); without the streams, alternated in the same run: median "
           f"{statistics.median(base):.2f} s ({', '.join('never' if t is None else f'{t:.1f}' for t in quiet)} s); "
           f"the last starved run: {said}")
    value = statistics.median(acted) if len(acted) == len(busy) else None
    return [row(f"{streams} stalled event streams, {limit_files} descriptors", "policy acts as fast as without",
                value, how)]


def owner_stopped(deadline: float = 2.0) -> dict:
    tmp, root = fresh()
    with tmp:
        s = Serve(root)
        try:
            s.wait_for(lambda x: x.get("msg") == "serving")
            s.proc.send_signal(signal.SIGSTOP)
            t0 = time.monotonic()
            r = cli(root, "status", "--timeout", f"{deadline:g}")
            took = time.monotonic() - t0
            s.proc.send_signal(signal.SIGCONT)
        finally:
            s.stop()
    said = r.stderr.strip().splitlines()[-1][:90] if r.stderr.strip() else ""
    return row("serve stopped (SIGSTOP)", f"`status --timeout {deadline:g}` answers within its deadline", took,
               f"time until `status` exits (exit {r.returncode}, the process start included): \"{said}…\"")


def socket_deleted() -> dict:
    tmp, root = fresh()
    with tmp:
        s = Serve(root)
        try:
            s.wait_for(lambda x: x.get("msg") == "serving")
            sock = root / "state" / "session.duckdb.sock"
            sock.unlink()
            t0 = time.monotonic()
            back = until(lambda: sock.is_socket(), 10)
            r = cli(root, "note", "a", "socket drill")  # a change: only the owner may record it
            works = time.monotonic() - t0 if r.returncode == 0 else None
        finally:
            s.stop()
    return row("the socket deleted under serve", "commands work again within 2 s", back,
               f"time until the socket is back (made again by serve); a change right after: exit {r.returncode} "
               f"({'-' if works is None else round(works, 2)} s from the deletion, its process start included)")


def owner_restarted() -> dict:
    from mdm_console.client.session import AttachedSession

    tmp, root = fresh()
    with tmp:
        db = root / "state" / "session.duckdb"
        s = Serve(root)
        s.wait_for(lambda x: x.get("msg") == "serving")

        async def follow() -> tuple[float | None, bool]:
            session = await AttachedSession.open(db)
            seen: list[int] = []
            try:
                async with session.subscribe() as q:
                    s.proc.kill()
                    s.proc.wait(10)
                    cli(root, "note", "a", "while down")  # recorded with nobody serving
                    t0 = time.monotonic()
                    s2 = Serve(root)
                    try:
                        while session.gone is not None or session.followed_again == 0:
                            if time.monotonic() - t0 > LIMIT_S:
                                return None, False
                            await asyncio.sleep(0.02)
                        took = time.monotonic() - t0
                        await asyncio.to_thread(cli, root, "note", "a", "after")
                        head = await asyncio.to_thread(_head, root)
                        end = time.monotonic() + 10
                        while session.state.head_seq < head and time.monotonic() < end:
                            await asyncio.sleep(0.05)
                        while not q.empty():
                            seen.append(q.get_nowait().seq)
                    finally:
                        s2.stop()
                return took, seen == list(range(seen[0], seen[-1] + 1)) if seen else False
            finally:
                await session.close()

        try:
            took, whole = asyncio.run(follow())
        finally:
            s.stop()
    return row("serve killed and started again", "consoles follow again within 5 s", took,
               "time from starting serve again to an attached console following it (the restart's own start "
               f"included); events it showed across the restart in order, none missing or twice: {whole}")


def _head(root: Path) -> int:
    r = cli(root, "status", "--json")
    try:
        return json.loads(r.stdout)["head"]["seq"]
    except (ValueError, KeyError):
        return 0


def rows() -> list[dict]:
    out = [crash_mid_rollback()]
    out += descriptor_starvation()
    out += [owner_stopped(), socket_deleted(), owner_restarted()]
    return out
