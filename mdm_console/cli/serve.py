"""`mdm-console serve`: the session's engine without a screen, owning the session until SIGTERM or SIGINT.

It runs what the console runs (feeds, windows, alerts, auto-advance, the auto-rollback policy, the drift watch,
notifications, the demo workload for the demo plan, `--metrics-port`) and serves the socket beside the session db,
so consoles and CLI commands of any permitted OS user come and go while the safety net keeps running. Log lines
on stderr are JSON objects, one per line.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import sys
from datetime import UTC, datetime

from mdm_console.cli.common import EXIT_OK, load, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("serve", parents=parents, help="run the session headless and serve its socket",
                       description="Own the session without a screen: feeds, alerts, auto-advance and the "
                       "auto-rollback policy keep running whoever attaches or leaves. Consoles attach and CLI "
                       "commands go through its Unix socket (beside the session db). SIGTERM or SIGINT stops it "
                       "cleanly. Log lines on stderr are JSON.")
    p.add_argument("--metrics-port", type=int, metavar="N",
                   help="serve the session's own metrics (Prometheus text) on 127.0.0.1:N")
    p.set_defaults(run=run)


def log_line(level: str, msg: str, **fields) -> None:
    from mdm_console.textsafe import visible

    record = {"ts": datetime.now(UTC).isoformat(timespec="milliseconds"), "level": level, "msg": msg, **fields}
    sys.stderr.write(visible(json.dumps(record, default=str, ensure_ascii=False)) + "\n")
    sys.stderr.flush()


def run(args: argparse.Namespace) -> int:
    from mdm_console.cli.owner import Owner

    loaded = load(args)

    async def go() -> int:
        import logging

        from mdm_console.api.server import RateLimitedLog, raise_descriptor_limit

        soft, hard = raise_descriptor_limit()
        logging.getLogger("asyncio").addFilter(RateLimitedLog(log_line))
        owner = Owner(mode="serve", log=log_line)
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        got: list[str] = []
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, lambda s=sig: (got.append(signal.Signals(s).name), stop.set()))
        try:
            engine, monitor = await owner.open(args, loaded)
            log_line("info", "serving", plan=str(loaded.path), session_db=str(engine.store.path),
                     socket=str(owner.server.socket_path), head_seq=engine.state.head_seq, demo=loaded.is_demo,
                     os_user=engine.store.actor.os_user, auto_rollback=loaded.plan.alerts.auto_rollback.mode,
                     open_files=soft, max_connections=owner.server.max_connections)
            for note in engine.report.notes:
                log_line("warning", "start-up note", note=note)
            forward = asyncio.create_task(_log_events(engine))
            watch = asyncio.create_task(_log_conditions(engine, monitor, owner.server))
            await stop.wait()
            log_line("info", "stopping", signal=got[0] if got else None)
            forward.cancel()
            watch.cancel()
            await _finish_running(engine)
        finally:
            await owner.close()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.remove_signal_handler(sig)
        log_line("info", "stopped")
        return EXIT_OK

    return run_async(go)


async def _log_events(engine) -> None:
    """Every recorded event, one log line each (what a journal or `tmux` scrollback should show)."""
    async with engine.subscribe() as queue:
        while True:
            ev = await queue.get()
            level = "warning" if ev.kind in ("alert.raised", "rollback.proposed", "access.refused") else "info"
            log_line(level, "event", seq=ev.seq, kind=ev.kind, component=ev.component, operator=ev.actor.operator,
                     os_user=ev.actor.os_user, message=ev.payload.get("message") or ev.payload.get("reason"))


def conditions(engine, monitor, server, flag_dir_writable: bool = True) -> dict[str, tuple[str, str]]:
    """What stops the session from doing its job right now: name -> (what is wrong, what it refuses). Reads the
    loop's own state: called on the loop (the one file-system look is the caller's, in a thread)."""
    import time

    out: dict[str, tuple[str, str]] = {}
    store = engine.store
    if store.lost or store.write_error:
        out["session log not writable"] = (store.lost or store.write_error,
                                           "every change and every record (advance, rollback, sign-off, alerts)")
    if not flag_dir_writable:
        out["flag file not writable"] = (f"{engine.loaded.flag_file.parent} cannot be written by this process",
                                         "stage changes and rollbacks, the policy's too")
    feed = getattr(monitor, "feed", None)
    stale = feed.status.stale_reason(time.time()) if feed is not None else None
    if stale:
        out["feed stale"] = (stale, "the gates and the policy judge no new figures")
    for comp, blocked in getattr(monitor, "blocked", {}).items():
        out[f"policy blocked: {comp}"] = (blocked.error, f"the automatic rollback of {comp} (tried again with backoff)")
    problem = getattr(server, "socket_problem", None)
    if problem:
        out["socket lost"] = (problem, "every console and CLI command")
    return out


def _writable(d) -> bool:
    import os

    return not d.exists() or os.access(d, os.W_OK)


async def _log_conditions(engine, monitor, server, every: float = 1.0) -> None:
    """One stderr line when a condition starts (level error: what, since when, what is refused) and one when it
    ends: at change, never per second, so a journal shows a headless owner's trouble with nobody attached."""
    held: dict[str, str] = {}  # condition -> since (ISO)
    while True:
        try:
            writable = await asyncio.to_thread(_writable, engine.loaded.flag_file.parent)
            now = conditions(engine, monitor, server, writable)
        except Exception as exc:  # noqa: BLE001 - looking must not stop the owner; said like any condition
            now = {"condition check failed": (f"{type(exc).__name__}: {exc}", "nothing (this line only)")}
        for what, (detail, refused) in now.items():
            if what not in held:
                held[what] = datetime.now(UTC).isoformat(timespec="seconds")
                log_line("error", "condition", what=what, detail=detail, since=held[what], refused=refused)
        for what in [w for w in held if w not in now]:
            log_line("info", "condition cleared", what=what, since=held.pop(what))
        await asyncio.sleep(every)


async def _finish_running(engine) -> None:
    """Validators still running are cancelled and their results recorded before the session closes; a stage
    change under way finishes (it holds the effects lock)."""
    n = engine.validation.cancel_all()
    for _ in range(200):
        if not engine.validation.running:
            break
        await asyncio.sleep(0.05)
    async with engine.effects_lock:
        pass
    if n:
        log_line("info", "cancelled running validators", count=n)
