"""Idle CPU and RSS growth of the real console, in tmux 160x48.

1. Idle: no key pressed for --idle-seconds after a warm-up; the console's own CPU time over that span,
   as % of one core. Quiet: a plan whose JSONL feed receives nothing (the console still ages every
   figure each second and watches its feed, flag file and host). Demo: the built-in demo with its
   workload sending 200 ops/s that the console ingests (the workload's own CPU is not counted).
   Baseline: a bare Textual app (header, 20-row DataTable, footer) measured the same way in the same run.
2. Soak: a screen key (1-5 in turn) every 2 s; after --warmup-seconds of that (screens built, caches
   and the garbage collector's working set at their size, DuckDB's buffers warm), RSS is sampled every
   10 s for --soak-seconds; the growth is the least-squares slope, extrapolated to MiB per hour (and
   said so: the run is shorter than an hour). The warm-up's own rise is shown beside it.

   The quiet console is measured twice in turn: with file events (watchfiles, the default) and polling
   (MDM_FILE_EVENTS=poll), the second the first's baseline.

   With --reopen-seconds S, a second demo console runs beside the first through the same keys, its session db
   reopened every S seconds (MDM_DB_REOPEN_S); the first keeps its connection for the whole run (its
   MDM_DB_REOPEN_S set longer than the run: the default is five minutes) and is its baseline.

Usage: python benchmarks/soak.py [--idle-seconds N] [--warmup-seconds N] [--soak-seconds N] [--idle-only 1]
       [--reopen-seconds S] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import psutil
from _common import emit, parse_args, write_plan
from _tmux import keep_server
from startup import BARE


def start(cmd: str, env: dict) -> tuple[str, psutil.Process]:
    session = f"soak-{uuid.uuid4().hex[:8]}"
    # -e: a tmux server that is already running gives new sessions its own environment, not ours
    tmux_env = [arg for k, v in env.items() if k.startswith("MDM_") for arg in ("-e", f"{k}={v}")]
    subprocess.run(["tmux", "new-session", "-d", "-s", session, "-x", "160", "-y", "48", *tmux_env, cmd], env=env,
                   check=True)
    pane = int(subprocess.run(["tmux", "display", "-p", "-t", session, "#{pane_pid}"], capture_output=True,
                              text=True, check=True).stdout)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for p in [psutil.Process(pane), *psutil.Process(pane).children(recursive=True)]:
            line = " ".join(p.cmdline())
            if "python" in line and "demo-workload" not in line:
                return session, p
        time.sleep(0.1)
    raise RuntimeError("the app's process did not appear")


def screen_text(session: str) -> str:
    return subprocess.run(["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True).stdout


def wait_for(session: str, text: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while text not in screen_text(session):
        if time.monotonic() > deadline:
            raise RuntimeError(f"{text!r} did not appear")
        time.sleep(0.1)


def cpu_percent(proc: psutil.Process, seconds: float) -> float:
    t0, c0 = time.monotonic(), proc.cpu_times()
    time.sleep(seconds)
    t1, c1 = time.monotonic(), proc.cpu_times()
    return 100 * ((c1.user - c0.user) + (c1.system - c0.system)) / (t1 - t0)


def slope_per_hour(samples: list[tuple[float, float]]) -> float:
    n = len(samples)
    mx = sum(t for t, _ in samples) / n
    my = sum(v for _, v in samples) / n
    var = sum((t - mx) ** 2 for t, _ in samples)
    return 3600 * sum((t - mx) * (v - my) for t, v in samples) / var


def stop(session: str) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, "q"], capture_output=True)
    time.sleep(1)
    subprocess.run(["tmux", "kill-session", "-t", session], capture_output=True)


def soak_demo(envs: list[dict], args) -> list[tuple]:
    """Demo consoles side by side (one per environment): idle CPU, then a key every 2 s to each in turn with RSS
    sampled after the warm-up. Returns (idle CPU, samples, keys, RSS at the start, alive at the end) for each."""
    started = [start(f"{sys.executable} -m mdm_console", env) for env in envs]
    try:
        for session, _ in started:
            wait_for(session, "registration")
        time.sleep(10)  # the workload is flowing, the first plots are drawn
        idle = [cpu_percent(proc, args.idle_seconds) for _, proc in started]
        samples: list[list[tuple[float, float]]] = [[] for _ in started]
        rss_start = [proc.memory_info().rss / 2**20 for _, proc in started]
        t0 = time.monotonic() + args.warmup_seconds
        n = 0
        while time.monotonic() - t0 < args.soak_seconds:
            for session, _ in started:
                subprocess.run(["tmux", "send-keys", "-t", session, "23451"[n % 5]], check=True)
            n += 1
            if time.monotonic() >= t0 and (n % 5 == 0 or not samples[0]):
                for got, (_, proc) in zip(samples, started):
                    got.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
            time.sleep(2)
        for got, (_, proc) in zip(samples, started):
            got.append((time.monotonic() - t0, proc.memory_info().rss / 2**20))
        alive = [proc.is_running() and "1 Dashboard" in screen_text(session) for session, proc in started]
    finally:
        for session, _ in started:
            stop(session)
    return list(zip(idle, samples, [n] * len(started), rss_start, alive))


def main() -> None:
    args = parse_args(idle_seconds=60.0, warmup_seconds=180.0, soak_seconds=900.0, idle_only=0, reopen_seconds=0.0)
    # keep_server: a tmux server with no session left exits, and the next start would race its exit
    with tempfile.TemporaryDirectory() as tmp, keep_server():
        env = {**os.environ, "MDM_STATE_DIR": str(Path(tmp) / "state"), "TERM": "xterm-256color"}
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        session, proc = start(f"{sys.executable} {bare}", env)
        wait_for(session, "READY")
        time.sleep(5)
        base_cpu = cpu_percent(proc, args.idle_seconds)
        stop(session)

        quiet = write_plan(Path(tmp) / "quiet", '[metrics]\nsource = "jsonl"\npath = "ops.jsonl"\n')
        (quiet.parent / "ops.jsonl").touch()
        quiet_cpu = {}
        # The same quiet console with file events (the default) and polling (MDM_FILE_EVENTS=poll), in turn.
        for mode in ("events", "poll"):
            env_mode = {**env, "MDM_FILE_EVENTS": mode}
            session, proc = start(f"env MDM_FILE_EVENTS={mode} {sys.executable} -m mdm_console --plan {quiet}",
                                  env_mode)
            wait_for(session, "features")
            time.sleep(5)
            quiet_cpu[mode] = cpu_percent(proc, args.idle_seconds)
            stop(session)
        rows = [
            {"figure": "idle CPU of the console (quiet feed, file events)", "goal": "<= 0.5 % of a core",
             "value": round(quiet_cpu["events"], 2), "unit": "% core", "baseline": round(quiet_cpu["poll"], 2),
             "ratio": round(quiet_cpu["events"] / quiet_cpu["poll"], 2) if quiet_cpu["poll"] else None,
             "how": f"console's own CPU time over {args.idle_seconds:.0f} s with no key pressed on a plan whose JSONL "
                    "feed receives nothing, the feed and the flag file woken by watchfiles; baseline = the same "
                    "console polling them (MDM_FILE_EVENTS=poll), same run"},
            {"figure": "idle CPU of the console (quiet feed, polling)", "goal": "", "value": round(quiet_cpu["poll"], 2),
             "unit": "% core", "baseline": round(base_cpu, 2),
             "ratio": round(quiet_cpu["poll"] / base_cpu, 1) if base_cpu else None,
             "how": "as above with MDM_FILE_EVENTS=poll (the feed read twice a second, the flag file stat'ed); "
                    "baseline = bare Textual app idle the same way"},
        ]
        if args.idle_only:
            emit(rows, args.json)
            return

        consoles = [("", env)]
        if args.reopen_seconds:  # a second demo console beside the first, reopening its session db that often
            # The first keeps its connection for the whole run (the product reopens every five minutes by default,
            # which would make the baseline a second reopening console).
            keep = str(args.warmup_seconds + args.soak_seconds + 3600)
            consoles = [(" (connection kept)", {**env, "MDM_DB_REOPEN_S": keep})]
            consoles.append((f" (db reopened every {args.reopen_seconds:g} s)",
                             {**env, "MDM_STATE_DIR": str(Path(tmp) / "state-reopen"),
                              "MDM_DB_REOPEN_S": str(args.reopen_seconds)}))
        runs = soak_demo([e for _, e in consoles], args)
    for (label, _), (idle_cpu, samples, n, rss_start, alive) in zip(consoles, runs):
        growth = slope_per_hour(samples)
        half = slope_per_hour(samples[len(samples) // 2:])
        minutes = args.soak_seconds / 60
        beside = f"; run beside {len(runs) - 1} other demo console(s)" if len(runs) > 1 else ""
        rows += [
            {"figure": f"idle CPU of the console (demo, 200 ops/s){label}", "goal": "", "value": round(idle_cpu, 2),
             "unit": "% core", "baseline": round(base_cpu, 2),
             "ratio": round(idle_cpu / base_cpu, 1) if base_cpu else None,
             "how": f"console's own CPU time over {args.idle_seconds:.0f} s with no key pressed, the demo workload "
                    f"(its child, not counted) sending 200 ops/s that the console ingests; baseline = bare Textual "
                    f"app idle the same way{beside}"},
            {"figure": f"RSS growth over a soak (demo){label}", "goal": "<= 2 MiB/h", "value": round(growth, 1),
             "unit": "MiB/h", "how": f"extrapolated from {minutes:.0f} min after a {args.warmup_seconds:.0f} s "
                                     f"warm-up (RSS {rss_start:.0f} -> {samples[0][1]:.0f} MiB): least-squares slope "
                                     f"of {len(samples)} samples ({samples[0][1]:.0f} -> {samples[-1][1]:.0f} MiB, "
                                     f"max {max(v for _, v in samples):.0f}; second half alone {half:.1f} MiB/h) "
                                     f"while a screen key is pressed every 2 s ({n} keys) and the workload runs"
                                     + beside + ("" if alive else "; THE CONSOLE WAS NOT SHOWING ITS SCREENS AT THE "
                                                                  "END")},
        ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
