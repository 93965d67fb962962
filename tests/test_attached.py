"""Consoles attached to the session's owner over its socket: they follow its events and health, act as the OS user
the kernel names, observe read-only with --observe, and notice when the owner is gone."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
import uuid

import pytest
from textual.widgets import Input

from mdm_console.api.server import ApiServer
from mdm_console.client.session import AttachedSession, EmbeddedSession
from mdm_console.engine.core import os_user_name
from mdm_console.engine.live import LiveMonitor
from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.modals.reason import ReasonModal
from tests.ui_helpers import open_engine, until

SIZE = (150, 45)
ME = os_user_name(os.geteuid())


async def served(tmp_path, min_stage: int = 3600):
    e = await open_engine(tmp_path, min_stage=min_stage)
    mon = LiveMonitor(e, system=False)
    await mon.start()
    server = ApiServer(e, mon)
    await server.start()
    return e, mon, server


async def stop(e, mon, server) -> None:
    await server.stop()
    await mon.stop()
    await e.close()


def footer_actions(app) -> set[str]:
    return {k.action for k in app.screen.query("FooterKey")}


async def test_an_attached_console_acts_through_the_owner_as_its_os_user(tmp_path):
    e, mon, server = await served(tmp_path)
    session = await AttachedSession.open(e.store.path, operator="Ann")
    app = ConsoleApp(session=session, keymap={})
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert app.sub_title.startswith(f"attached to serve PID {os.getpid()} as OS user {ME}")
            await pilot.press("2", "a")
            await until(pilot, lambda: isinstance(app.screen, ReasonModal))  # the owner's gates fail (stage time)
            app.screen.query_one(Input).value = "attached override"
            await pilot.press("enter")
            await until(pilot, lambda: e.state.components["storage"].stage == "canary")
            # The console's own state follows the owner's events (applied with the same handlers).
            await until(pilot, lambda: session.state.components["storage"].stage == "canary")
            await until(pilot, lambda: "canary" in str(app.screen.query_one("#components").get_row("storage")))
            assert session.state.head_hash == e.state.head_hash
            # Health comes from the owner once a second: the gates the console shows are the owner's.
            await until(pilot, lambda: [g.name for g in session.gates("storage")] ==
                        [g.name for g in e.rollout.gates("storage")], timeout=5)
            await pilot.press("q")
    finally:
        await session.close()
        await stop(e, mon, server)
    override = next(ev for ev in await_events(tmp_path) if ev.kind == "gate.override")
    assert (override.actor.operator, override.actor.os_user) == ("Ann", ME)


def await_events(tmp_path):
    """The owner's log, read after it closed (in a thread: this test's loop is running)."""
    import asyncio
    import concurrent.futures

    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan

    async def go():
        e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), read_only=True)
        try:
            return await e.events()
        finally:
            await e.close()

    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, go()).result(60)



async def test_an_attached_dashboard_shows_the_owners_figures_as_lines_come(tmp_path):
    """The attached dashboard keeps its rows while nothing it shows moved: each health document from the owner must
    count as a move, or the figures of lines that came after the first document would never reach the table."""
    import json
    from datetime import UTC, datetime

    from mdm_console.ui.widgets.health_table import HealthTable

    e, mon, server = await served(tmp_path)
    session = await AttachedSession.open(e.store.path, operator="Ann")
    app = ConsoleApp(session=session, keymap={})
    feed = tmp_path / "metrics" / "ops.jsonl"
    feed.parent.mkdir(exist_ok=True)

    def write(n: int) -> None:
        with feed.open("a") as f:
            for _ in range(n):
                f.write(json.dumps({"ts": datetime.now(UTC).isoformat(), "component": "storage",
                                    "outcome": "success", "latency_ms": 20, "variant": "new"}) + "\n")

    def new_ops(table) -> str:
        return str(table.get_row("storage")[table.shown.index("new_ops")])

    try:
        async with app.run_test(size=(160, 48)) as pilot:  # wide enough for the new path's operations column
            table = app.screen.query_one(HealthTable)
            write(30)
            await until(pilot, lambda: table.row_count == 2 and new_ops(table) == "30")
            write(12)
            await until(pilot, lambda: new_ops(table) == "42")
            await pilot.press("q")
    finally:
        await session.close()
        await stop(e, mon, server)

async def test_an_observing_console_offers_nothing_that_changes_the_session(tmp_path):
    e, mon, server = await served(tmp_path, min_stage=0)
    session = await AttachedSession.open(e.store.path, observe=True)
    app = ConsoleApp(session=session, keymap={})
    try:
        async with app.run_test(size=SIZE) as pilot:
            assert "observing (read-only)" in app.sub_title
            await pilot.press("2")
            await until(pilot, lambda: type(app.screen).__name__ == "RolloutScreen")
            await pilot.pause()
            shown = footer_actions(app)
            assert "show('dashboard')" in shown and "export" in shown
            assert not shown & {"advance", "step_back", "toggle_auto", "rollback"}
            await pilot.press("a", "b", "R")
            await pilot.pause()
            assert not isinstance(app.screen, ReasonModal) and type(app.screen).__name__ == "RolloutScreen"
            from mdm_console.ui.palette import ConsoleCommands

            titles = [t for t, _, _ in ConsoleCommands(app.screen).commands()]
            assert "Export the session log" in titles
            assert not [t for t in titles if t.startswith(("Advance", "Step", "Roll back", "Run ", "Complete",
                                                            "Sign off", "Pause", "Resume"))], titles
            # A change made by someone else still shows: the observer is live.
            await e.rollout.advance("features", override="someone else")
            await until(pilot, lambda: "canary" in str(app.screen.query_one("#components").get_row("features")))
            await pilot.press("question_mark")
            await pilot.pause()
            help_text = " ".join(str(w.render()) for w in app.screen.query("Static"))
            assert "Advance" not in help_text and "Step back" not in help_text
    finally:
        await session.close()
        await stop(e, mon, server)
    assert e.state.components["storage"].stage == "testing"


async def test_a_console_says_within_two_seconds_that_its_owner_is_gone_and_can_take_over(tmp_path):
    e, mon, server = await served(tmp_path, min_stage=0)
    db = e.store.path
    session = await AttachedSession.open(db, operator="Ann")
    taken = []

    async def taker():
        engine = await open_engine(tmp_path)
        taken.append(engine)
        return EmbeddedSession(engine)

    app = ConsoleApp(session=session, keymap={}, taker=taker)
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.pause()
            await stop(e, mon, server)  # the owner ends (its socket closes)
            t0 = time.monotonic()
            await until(pilot, lambda: session.gone is not None, timeout=5)
            assert time.monotonic() - t0 < 2.0
            await until(pilot, lambda: "NOT FOLLOWING" in str(app.screen.query_one("StatusLine").render()))
            from mdm_console.ui.palette import ConsoleCommands

            titles = [t for t, _, _ in ConsoleCommands(app.screen).commands()]
            assert "Take the session over (run it in this console)" in titles
            app.take_over()
            await until(pilot, lambda: app.session is not session and app.session.owner)
            assert app.sub_title.startswith("operator ")
            await pilot.press("q")
    finally:
        for engine in taken:
            await engine.close()


# ---- a real `serve`, a real console in tmux, kill -9 of the console --------------------------------------------
@pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")
def test_killing_an_attached_console_stops_nothing_the_policy_still_rolls_back(tmp_path):
    import psutil

    from tests.test_service import fault_is_rolled_back_by_the_policy, policy_plan, serving
    from tests.test_tmux import wait_for

    plan = policy_plan(tmp_path)
    with serving(plan) as s:
        tmux = f"mdm-{uuid.uuid4().hex[:8]}"
        cmd = f"{sys.executable} -m mdm_console --plan {plan} --operator watcher; sleep 30"
        subprocess.run(["tmux", "new-session", "-d", "-s", tmux, "-x", "160", "-y", "48",
                        "-e", f"MDM_STATE_DIR={tmp_path}", cmd], check=True, cwd=os.getcwd())
        try:
            wait_for(tmux, f"attached to serve PID {s.proc.pid}")
            pane_pid = int(subprocess.run(["tmux", "display", "-p", "-t", tmux, "#{pane_pid}"], capture_output=True,
                                          text=True).stdout.strip())
            console = next(p for p in psutil.Process(pane_pid).children(recursive=True)
                           if "mdm_console" in " ".join(p.cmdline()))
            console.send_signal(signal.SIGKILL)
            console.wait(10)
            fault_is_rolled_back_by_the_policy(s, plan)
        finally:
            subprocess.run(["tmux", "kill-session", "-t", tmux], capture_output=True)


async def test_quitting_a_console_that_runs_the_safety_net_says_what_stops_and_names_serve(tmp_path):
    from mdm_console.ui.modals.confirm import ConfirmModal

    e = await open_engine(tmp_path)  # its plan has a JSONL feed and the default policy (prompt)
    await e.rollout.advance("storage", override="a canary is out")
    mon = LiveMonitor(e, system=False)
    await mon.start()
    app = ConsoleApp(e, monitor=mon, keymap={})
    try:
        async with app.run_test(size=SIZE) as pilot:
            await pilot.press("q")
            await until(pilot, lambda: isinstance(app.screen, ConfirmModal))
            detail = str(app.screen.query_one("#detail").render())
            assert "quitting stops the metric feeds, the alerts and the auto-rollback policy (prompt)" in detail
            assert "mdm-console serve" in detail
            await pilot.press("escape")  # stays
            await until(pilot, lambda: not isinstance(app.screen, ConfirmModal))
            assert app.return_code is None
            await e.rollout.step_back("storage", reason="canary back at 0 %")
            await pilot.press("q")  # nothing out: quits at once
            await until(pilot, lambda: app.return_code is not None)
    finally:
        await mon.stop()
        await e.close()
