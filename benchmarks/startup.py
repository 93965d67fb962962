"""Start-up: process start to first full paint, mdm-console on the demo against a bare Textual app
(a header, a 20-row DataTable and a footer), measured the same way in the same run (goal: ratio <= 1.5).

How: each app starts in a real terminal (tmux, 160x48); the clock runs from just before the process is
started until its screen shows the text that only the finished first paint has (polled every 10 ms).
The console paints its frame first and opens the session behind it, so a second figure times the same
start until the component rows show live figures (the session db open, the monitor and workload started).

Usage: python benchmarks/startup.py [--runs N] [--json]
"""

from __future__ import annotations

import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, parse_args
from _tmux import Pane, keep_server

BARE = '''
from textual.app import App
from textual.widgets import DataTable, Footer, Header
class Bare(App):
    def compose(self):
        yield Header()
        yield DataTable()
        yield Footer()
    def on_mount(self):
        t = self.query_one(DataTable)
        t.add_columns("component", "status", "ops", "success", "errors", "p99", "stage", "percent")
        for i in range(20):
            t.add_row(f"component-{i}", "OK", str(i * 100), "99.9 %", "0.1 %", "45 ms", "canary", "5 %")
        t.add_row("READY", "", "", "", "", "", "", "")
Bare().run()
'''


def time_to_text(cmd: str, texts: list[str], env: dict, timeout: float = 60) -> list[float]:
    """Seconds from starting `cmd` until each of `texts` is on its screen."""
    pane = Pane(Path.cwd(), env, cmd)
    seen: dict[str, float] = {}

    def all_seen(screen: str) -> bool:
        t = time.perf_counter() - pane.t0
        for text in texts:
            if text in screen and text not in seen:
                seen[text] = t
        return len(seen) == len(texts)

    try:
        pane.until(all_seen, pane.t0, timeout=timeout, every=0.01)
        return [seen[x] for x in texts]
    finally:
        # A console killed mid-run leaves its socket behind, and the next start would time the recovery from that.
        pane.close()


PAINTED = "new err"  # a column of the dashboard's table: the first frame is complete
LIVE = "registration"  # the demo's last component row: the session is open


def main() -> None:
    args = parse_args(runs=5)
    with tempfile.TemporaryDirectory() as tmp, keep_server():
        bare = Path(tmp) / "bare.py"
        bare.write_text(BARE)
        env = {**os.environ, "MDM_STATE_DIR": str(Path(tmp) / "state"), "TERM": "xterm-256color"}
        # Both apps run as an operator's Python does, compiled modules cached (this machine turns that off).
        env.pop("PYTHONDONTWRITEBYTECODE", None)
        # One unmeasured start each: the demo copies its files and creates its data the first time.
        ours_cmd = f"{sys.executable} -m mdm_console"
        time_to_text(ours_cmd, [PAINTED, LIVE], env)
        time_to_text(f"{sys.executable} {bare}", ["READY"], env)
        ours, live, base = [], [], []
        for _ in range(args.runs):
            base.append(time_to_text(f"{sys.executable} {bare}", ["READY"], env)[0])
            painted, data = time_to_text(ours_cmd, [PAINTED, LIVE], env)
            ours.append(painted)
            live.append(data)
    m_ours, m_live, m_base = statistics.median(ours), statistics.median(live), statistics.median(base)
    rows = [{"figure": "start-up to first full paint (demo)", "goal": "ratio <= 1.5", "value": round(m_ours, 3),
             "unit": "s", "baseline": round(m_base, 3), "ratio": round(m_ours / m_base, 2),
             "how": f"median of {args.runs} starts in tmux 160x48 until the dashboard's frame (header, status line, "
                    f"table, panes, footer) is on screen; baseline = bare Textual app (header, 20-row DataTable, "
                    f"footer)"},
            {"figure": "start-up to live figures (demo)", "goal": "(none; shown)", "value": round(m_live, 3),
             "unit": "s", "baseline": round(m_base, 3), "ratio": round(m_live / m_base, 2),
             "how": "same starts, until the component rows show: the plan loaded, the session db opened and its "
                    "chain verified, the flag file checked, the demo workload and the live monitor started"}]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
