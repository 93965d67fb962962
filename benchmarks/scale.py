"""Scale with the plan: the console and the CLI on generated plans of N components (N = 4, 40, 400 by default),
measured as an operator meets them, in a real terminal (tmux 160x48).

The plan (benchmarks/_scaleplan.py): N components, N `command` validators, 10 N checklist items in 10 sections,
5 sign-off roles, a JSONL feed with per-operation lines for every component on both paths over the last 5 min.

Figures, each the median of its repeats, for each N:
- launch to first figures: from starting the process until the dashboard's table says "of N worst first" in
  its title and its first row shows a status from the feed (the plan loaded, the session open, the feed read,
  every row ranked and drawn; the title alone went out 0.8 s before the figures at N=400); --launches starts,
  the first one creating the session
- idle CPU: the console's own CPU (user + system, psutil) over --idle-seconds with no key pressed, 15 s after
  the figures showed (the feed's file is quiet, so every component is stale by then, and the window's figures
  change as its lines age out of it)
- checklist first open: `4` until the checklist's title shows its first page
- `space` to the mark changing: on each of 5 pending items (`down` between), until the pane shows one more
  "✔ done" than before
- `status` and `validate --json`: the CLI with the console closed (each a new process, Python start included)
- a command after many: `note` on an item, the median of the first 3 against the last 3 of --notes commands
  (each writes to the session; the cost must not grow with the commands before it)

The N=4 column is the baseline of the others (same machine, same run).

Every process runs as an operator's Python does, writing compiled modules to its cache (PYTHONDONTWRITEBYTECODE
is dropped from the environment).

Usage: python benchmarks/scale.py [--sizes 4,40,400] [--idle-seconds 20] [--notes 30] [--launches 3] [--json]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit
from _tmux import Pane, keep_server
from _scaleplan import write_scale_plan


FIGURE_ROW = re.compile(r"│ svc\d+ +(✔ OK|▲ WARNING|✘ CRITICAL|⚠ STALE) ")


def figures(n: int):
    """The dashboard's table with its title and its first row showing its component's figures (its status from
    the feed: not NO DATA, which the console showed until the feed's first pass before it read the feed first)."""
    return lambda s: f"of {n} worst first" in s and FIGURE_ROW.search(s) is not None


def cli(cwd: Path, env: dict, *args: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "mdm_console", *args], cwd=cwd, env=env, capture_output=True, check=False)
    return time.perf_counter() - t0


def measure(n: int, root: Path, idle_seconds: float, notes: int, launch_runs: int) -> dict:
    cwd = root / f"n{n}"
    write_scale_plan(cwd, n)
    env = {**os.environ, "MDM_STATE_DIR": str(root / f"state{n}"), "TERM": "xterm-256color"}
    # As an operator's Python runs: compiled modules are cached (this machine's environment turns that off).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    out: dict = {}
    launches = []
    for _ in range(launch_runs - 1):
        pane = Pane(cwd, env)
        try:
            launches.append(pane.until(figures(n), pane.t0))
        finally:
            pane.close()
    pane = Pane(cwd, env)
    try:
        launches.append(pane.until(figures(n), pane.t0))
        out["launch"] = statistics.median(launches)
        time.sleep(15)  # the start-up's work (the feed read, the first alerts recorded) is over
        out["idle_cpu"] = pane.cpu_percent(idle_seconds)
        out["checklist"] = pane.until(lambda s: "Checklist 1-" in s, pane.keys("4"))
        time.sleep(1)
        marks = []
        for k in range(5):
            if k:
                pane.keys("Down")
                time.sleep(0.3)
            done = pane.screen().count("✔ done")
            marks.append(pane.until(lambda s, d=done: s.count("✔ done") > d, pane.keys("Space")))
            time.sleep(0.3)
        out["space"] = statistics.median(marks)
    finally:
        pane.close()
    out["status"] = statistics.median(cli(cwd, env, "status") for _ in range(3))
    out["validate"] = statistics.median(cli(cwd, env, "validate", "--json") for _ in range(3))
    took = [cli(cwd, env, "note", "i00011", f"note {k}") for k in range(notes)]
    out["note_first"], out["note_last"] = statistics.median(took[:3]), statistics.median(took[-3:])
    out["db_mb"] = sum(f.stat().st_size for f in (cwd / "state").glob("session.duckdb*")) / 1e6
    return out


FIGURES = [  # key, figure, unit, goal at N=400, how it is shown
    ("launch", "launch to first figures", "s", "<= 2 s", 2),
    ("checklist", "checklist first open", "s", "<= 0.3 s", 3),
    ("space", "`space` to the mark changing", "s", "<= 0.1 s", 3),
    ("idle_cpu", "idle CPU", "% of a core", "<= 3 %", 1),
    ("status", "`status`", "s", "<= 0.5 s", 2),
    ("validate", "`validate --json`", "s", "(none)", 2),
    ("note_first", "`note`, first 3 of the run", "s", "(none)", 2),
    ("note_last", "`note`, last 3 of the run", "s", "= first 3", 2),
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--sizes", default="4,40,400")
    ap.add_argument("--idle-seconds", type=float, default=20)
    ap.add_argument("--notes", type=int, default=30)
    ap.add_argument("--launches", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    sizes = [int(x) for x in args.sizes.split(",")]
    with tempfile.TemporaryDirectory() as tmp:
        with keep_server():
            results = {n: measure(n, Path(tmp), args.idle_seconds, args.notes, args.launches) for n in sizes}
    base = sizes[0]
    rows = []
    for key, figure, unit, goal, digits in FIGURES:
        for n in sizes:
            value = round(results[n][key], digits)
            rows.append({"figure": f"{figure}, N={n}", "goal": goal if n == 400 else "", "value": value,
                         "unit": unit, "baseline": round(results[base][key], digits) if n != base else None,
                         "ratio": round(results[n][key] / results[base][key], 2) if n != base and results[base][key]
                         else None,
                         "how": f"tmux 160x48, generated plan of {n} components, {10 * n} checklist items"
                                + (f"; session db {results[n]['db_mb']:.1f} MB after the run" if key == "note_last"
                                   else "")})
    emit(rows, args.json)


if __name__ == "__main__":
    main()
