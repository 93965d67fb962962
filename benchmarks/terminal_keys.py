"""Keys as the operator sees them, under load: a screen switch from the key press to the new screen on a real
terminal's pane, the console against a bare two-screen Textual app in the same run (goal: p90 <= 1.2x the bare
app's), while the demo workload sends 5 000 ops/s into the console's feed and 50 validators run.

How: both apps run side by side, each in its own tmux session (160x48). The console has a plan with a JSONL
feed, two components and 50 `command` validators (`sleep`, so they stay running); `demo-workload --rate 5000`
writes the feed; `mdm-console validate --phase post` starts the 50 validators through the console's socket.
Once the feed shows and the 50 are running, keys go to each app in turn: for each, `tmux send-keys`
switches screens (1 and 2) and the clock runs from just before the key is sent until `tmux capture-pane` shows a
text only the new screen has (polled every 5 ms; each poll is a tmux command, the same for both apps). Each
screen is visited once before the timed keys (a first visit builds it). The console's CPU over the timed keys and
the validators still running at the end are printed with the figures. The same switches are timed first with
both apps quiet (before the workload and the validators start).

The baseline, the bare app: two screens as modes (a header and a title line), `1` and `2` switch them, as the
console's number keys switch its modes: the least a Textual screen switch costs on this terminal. Two fuller
bare apps are timed in the same turns and shown beside each figure: with a 20-row DataTable on each screen, and
with Textual's Footer as well (it rebuilds all its keys on every screen switch; the console's own footer does
not, ui/widgets/footer.py).

Usage: python benchmarks/terminal_keys.py [--presses N] [--json]
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import emit, parse_args, percentile, sleeping_validators, write_plan
from _tmux import Pane, keep_server

BARE = '''
import sys

from textual.app import App
from textual.screen import Screen
from textual.widgets import DataTable, Footer, Header, Static


class Page(Screen):
    MARK = ""

    def compose(self):
        yield Header()
        yield Static(self.MARK)
        if "--table" in sys.argv:
            yield DataTable()
        if "--footer" in sys.argv:
            yield Footer()

    def on_mount(self):
        if "--table" not in sys.argv:
            return
        t = self.query_one(DataTable)
        t.add_columns("component", "status", "ops", "success", "errors", "p99", "stage", "percent")
        for i in range(20):
            t.add_row(f"component-{i}", "OK", str(i * 100), "99.9 %", "0.1 %", "45 ms", "canary", "5 %")


class One(Page):
    MARK = "BARE SCREEN ONE"


class Two(Page):
    MARK = "BARE SCREEN TWO"


class Bare(App):
    MODES = {"one": One, "two": Two}
    BINDINGS = [("1", "switch_mode('one')", "One"), ("2", "switch_mode('two')", "Two")]

    def on_mount(self):
        self.switch_mode("one")


Bare().run()
'''

VALIDATORS = 50
PLAN = ('[metrics]\nsource = "jsonl"\npath = "ops.jsonl"\n[alerts.auto_rollback]\nmode = "off"\n'
        + sleeping_validators(VALIDATORS, 600, timeout=900))

# key -> a text only that screen shows
CONSOLE_SCREENS = {"1": "worst first", "2": "auto-advance"}
BARE_SCREENS = {"1": "BARE SCREEN ONE", "2": "BARE SCREEN TWO"}


def switch(pane: Pane, key: str, marks: dict[str, str]) -> float:
    """Milliseconds from pressing `key` until its screen's text is on the pane (and the other screen's is gone)."""
    mine = marks[key]
    others = [m for k, m in marks.items() if k != key]
    pane.until(lambda s: mine not in s, time.perf_counter(), timeout=10)
    t0 = pane.keys(key)
    return pane.until(lambda s: mine in s and not any(o in s for o in others), t0, timeout=30, every=0.005) * 1000


def alternate(apps: dict[str, tuple[Pane, dict]], presses: int) -> dict[str, list[float]]:
    """`presses` screen switches on each app, taking turns (whatever else runs meets them alike)."""
    took: dict[str, list[float]] = {name: [] for name in apps}
    for n in range(presses):
        key = "2" if n % 2 == 0 else "1"
        for name, (pane, marks) in apps.items():
            took[name].append(switch(pane, key, marks))
    return took


def running_validators(pane: Pane) -> int:
    return sum(1 for c in pane.proc.children(recursive=True) if c.name() == "sleep")


def main() -> None:
    args = parse_args(presses=60)
    with tempfile.TemporaryDirectory() as tmp, keep_server():
        root = Path(tmp)
        write_plan(root, PLAN)
        (root / "bare.py").write_text(BARE)
        env = {**os.environ, "MDM_STATE_DIR": str(root / "state"), "TERM": "xterm-256color"}
        env.pop("PYTHONDONTWRITEBYTECODE", None)  # all run as an operator's Python does, compiled modules cached
        console = Pane(root, env)
        apps = {"console": (console, CONSOLE_SCREENS),
                "bare": (Pane(root, env, f"{sys.executable} bare.py"), BARE_SCREENS),
                "table": (Pane(root, env, f"{sys.executable} bare.py --table"), BARE_SCREENS),
                "footer": (Pane(root, env, f"{sys.executable} bare.py --table --footer"), BARE_SCREENS)}
        side = []
        try:
            console.until(lambda s: "worst first" in s, console.t0, timeout=60)
            for pane, marks in apps.values():
                pane.until(lambda s, m=marks["1"]: m in s, pane.t0, timeout=60)
                for k in ("2", "1"):  # a first visit builds a screen: not timed
                    switch(pane, k, marks)
            quiet = alternate(apps, args.presses)
            side.append(subprocess.Popen(
                [sys.executable, "-m", "mdm_console", "demo-workload", "--flags", "flags.json", "--metrics",
                 "ops.jsonl", "--rate", "5000"], cwd=root, env=env, stdout=subprocess.DEVNULL))
            side.append(subprocess.Popen([sys.executable, "-m", "mdm_console", "validate", "--phase", "post"],
                                         cwd=root, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
            deadline = time.monotonic() + 60
            while running_validators(console) < VALIDATORS:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"only {running_validators(console)} validators running after 60 s")
                time.sleep(0.1)
            console.until(lambda s: "✔ OK" in s, time.perf_counter(), timeout=30)  # the feed's figures show
            cpu0, t0 = console.cpu_times(), time.perf_counter()
            loaded = alternate(apps, args.presses)
            cpu = (console.cpu_times() - cpu0) / (time.perf_counter() - t0) * 100
            still = running_validators(console)
        finally:
            for p in side:
                p.terminate()
                p.wait(10)
            for pane, _ in reversed(apps.values()):
                pane.close()
    how = f"{args.presses} switches each, taking turns with the bare apps'; tmux 160x48"
    load = (f"demo workload 5 000 ops/s, {still} of {VALIDATORS} validators still running at the end, the console at "
            f"{cpu:.0f} % of a core over the keys")

    def row(figure: str, took: dict, q: float, goal: str, note: str) -> dict:
        ours, base = percentile(took["console"], q), percentile(took["bare"], q)
        return {"figure": figure, "goal": goal, "value": round(ours, 1), "unit": "ms", "baseline": round(base, 1),
                "ratio": round(ours / base, 2),
                "how": f"{how}; {note}; the bare app with a 20-row DataTable {percentile(took['table'], q):.1f} ms, "
                       f"and Textual's Footer too {percentile(took['footer'], q):.1f} ms"}

    rows = [row("key to new screen on the pane, p50 (quiet)", quiet, 50, "", "before the workload and validators"),
            row("key to new screen on the pane, p90 (quiet)", quiet, 90, "", "before the workload and validators"),
            row("key to new screen on the pane, p50 (under load)", loaded, 50, "", load),
            row("key to new screen on the pane, p90 (under load)", loaded, 90, "ratio <= 1.2", load),
            row("key to new screen on the pane, max (under load)", loaded, 100, "", load)]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
