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
                     os_user=engine.store.actor.os_user, auto_rollback=loaded.plan.alerts.auto_rollback.mode)
            for note in engine.report.notes:
                log_line("warning", "start-up note", note=note)
            forward = asyncio.create_task(_log_events(engine))
            await stop.wait()
            log_line("info", "stopping", signal=got[0] if got else None)
            forward.cancel()
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
