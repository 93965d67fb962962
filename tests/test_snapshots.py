"""Snapshots of the five screens and the rollback wizard, with a fixed clock, fixed identities and
fixed input data (so the pictures only change when the rendering does)."""

from __future__ import annotations

import asyncio
import fcntl
import itertools
import os
import shutil
import tempfile
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mdm_console.engine import core
from mdm_console.feeds.windows import Windows
from mdm_console.store import session as store_session
from mdm_console.store.chain import Actor
from mdm_console.ui.app import ConsoleApp
from tests.ui_helpers import open_engine

T0 = datetime(2026, 11, 24, 22, 0, 0, tzinfo=UTC)
SIZE = (150, 45)


class FixedMonitor:
    """Real health windows holding fixed samples; no live feeds."""

    def __init__(self, now: datetime):
        self.windows = Windows(["storage", "features"], 300)
        self.feed = None
        self.system = None
        t = now.timestamp()
        for i in range(600):
            ts = t - 290 + i * 0.48
            self.windows.add_op(ts, "storage", i % 25 != 0, 20 + (i % 40), "old")
            if i % 4 == 0:
                self.windows.add_op(ts, "storage", i % 8 != 0, 35 + (i % 60), "new")
            self.windows.add_op(ts, "features", True, 12 + (i % 9), "old")
        self.now = now

    def stats(self, component: str):
        from dataclasses import replace

        st = self.windows.stats(component, self.now)
        return replace(st, policy=self.windows.path(component, "new", self.now.timestamp(), 30)) if st.ops else st

    def verdict(self, component: str):
        from mdm_console.verdict import ComponentVerdict, error_verdict_strata, latency_stratum, latency_verdict

        st, t = self.stats(component), self.now.timestamp()
        if not st.new.ops:
            return None
        strata = list(self.windows.strata(component, t - 300, t).values())
        latency = [latency_stratum(old, new, quantile=0.5, tolerance=0.2)
                   for old, new in self.windows.bucket_sketches(component, t - 300, t).values()]
        return ComponentVerdict(
            error_verdict_strata(*zip(*strata, strict=True), alpha=0.01, min_operations=100),
            latency_verdict(latency, self.windows.sketch(component, "old", t), self.windows.sketch(component, "new", t),
                            alpha=0.01, min_operations=100, tolerance=0.2))


@pytest.fixture
def fixed(monkeypatch, tmp_path):
    ticks = itertools.count()
    monkeypatch.setattr(store_session, "utcnow", lambda: T0 + timedelta(seconds=next(ticks)))
    monkeypatch.setattr(core, "resolve_actor", lambda operator=None: Actor("Avery", "avery", "bridge-01"))
    monkeypatch.setattr(core.os, "getpid", lambda: 4242)
    ids = itertools.count(1)
    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID(int=next(ids)))
    # A fixed path, because it appears in the logged plan_path and so in the pictures; held under an
    # exclusive lock (concurrent runs wait their turn) and refused if it is not a directory of ours.
    base = Path("/tmp/mdm-snapshot-plan")
    lock = open(Path(tempfile.gettempdir()) / f"mdm-snapshot-plan.{os.getuid()}.lock", "a")  # noqa: SIM115
    fcntl.flock(lock, fcntl.LOCK_EX)
    if base.is_symlink() or (base.exists() and base.stat().st_uid != os.getuid()):
        pytest.fail(f"{base} is not a directory of this user's; remove it")
    shutil.rmtree(base, ignore_errors=True)
    base.mkdir(mode=0o700)

    async def build():
        e = await open_engine(base)
        e.clock = lambda: T0 + timedelta(minutes=10)
        await e.rollout.advance("storage")
        await e.record("alert.raised", "storage", {  # what the monitor raises on the fixed figures below
            "alert": "error_rate:storage", "level": "critical", "component": "storage", "value": 0.5,
            "threshold": 0.05, "message": "storage new path error_rate 50.00 % > critical level 5.00 % (last 300 s, "
                                          "150 ops)"})
        await e.checklist.note("pre.backup", "tape library slow")
        return e

    engine = asyncio.run(build())
    try:
        yield engine, FixedMonitor(engine.now())
    finally:
        asyncio.run(engine.close())
        shutil.rmtree(base, ignore_errors=True)
        lock.close()


def snap(snap_compare, fixed, press, run_before=None, size=SIZE, theme=None):
    engine, monitor = fixed
    app = ConsoleApp(engine, monitor=monitor, keymap={}, tick_seconds=None, theme=theme)
    return snap_compare(app, press=press, terminal_size=size, run_before=run_before)


async def _settle(pilot):
    """Wait (with a deadline) until the workers that read the store (log page, validator detail) have
    finished and what they posted is drawn; the engine-events follower runs for the app's life."""
    for _ in range(3):
        await pilot.pause()
        pending = [w for w in pilot.app.workers if w.group != "engine-events" and not w.is_finished]
        for w in pending:
            await asyncio.wait_for(w.wait(), 10)
    await pilot.pause()
    await _tables_measured(pilot)
    await pilot.wait_for_scheduled_animations()


async def _tables_measured(pilot):
    """Wait (with a deadline) until every table on screen has measured the rows it was given: DataTable widens
    its columns on its own Idle, which a busy machine can put after the picture (the session log was taken
    with every column at its header's width). And hold every input's cursor still (shown): it blinks every half
    second, and a picture taken late enough on a busy machine had it off (the rollback wizard's)."""
    from textual.widgets import DataTable, Input

    for field in pilot.app.screen.query(Input):
        field.cursor_blink = False
    await pilot.pause()

    from mdm_console.ui.screens.base import cell_width

    def measured(table) -> bool:
        return all(not c.auto_width or c.content_width >= max((cell_width(v) for v in table.get_column(c.key)),
                                                              default=0) for c in table.ordered_columns)

    for _ in range(500):
        if all(measured(t) for t in pilot.app.screen.query(DataTable)):
            return
        await pilot.pause(0.01)
    raise AssertionError("a table's columns were not measured within 5 s")


# Every screen and dialog at the size a terminal guarantees and at a large one; the 160x48 pictures are the
# documentation's screenshots (docs/img).
SIZES = pytest.mark.parametrize("size", [(80, 24), (160, 48)], ids=["80x24", "160x48"])


def opened(*keys: str, until=None):
    """Press keys, then wait (with a deadline) for the dialog they open, and settle."""

    async def run(pilot):
        await _settle(pilot)
        await pilot.press(*keys)
        if until is not None:
            for _ in range(200):
                if type(pilot.app.screen).__name__ == until:
                    break
                await pilot.pause(0.02)
            assert type(pilot.app.screen).__name__ == until
        # The app's worker that opened the dialog waits on its answer: wait only for the dialog's own.
        for _ in range(3):
            await pilot.pause()
            for w in [w for w in pilot.app.workers if w.node is not pilot.app and not w.is_finished]:
                await asyncio.wait_for(w.wait(), 10)
        await pilot.pause()
        await _tables_measured(pilot)
        await pilot.wait_for_scheduled_animations()

    return run


@SIZES
@pytest.mark.parametrize("screen", ["1", "2", "3", "4", "5"],
                         ids=["dashboard", "rollout", "validation", "checklist", "session_log"])
def test_screen(snap_compare, fixed, size, screen):
    assert snap(snap_compare, fixed, [screen], _settle, size=size)


@SIZES
def test_rollback_wizard(snap_compare, fixed, size):
    async def open_prefilled(pilot):
        pilot.app.open_rollback("component", "storage", "error rate 0.31 > 0.05 for 60 s")
        await _settle(pilot)
        for _ in range(200):
            if pilot.app.screen.plan is not None:
                break
            await pilot.pause(0.02)
        await _settle(pilot)

    assert snap(snap_compare, fixed, [], open_prefilled, size=size)


@SIZES
@pytest.mark.parametrize("dialog", [
    ("HelpModal", ("2", "question_mark")),
    ("ReasonModal", ("2", "a")),  # advance: the change, every gate, the reason
    ("QuitModal", ("q",)),  # a canary is out and this console runs the safety net
    ("ExportModal", ("e",)),
    ("SignoffModal", ("4", "s")),
    ("EventDetailModal", ("5", "enter")),
], ids=["help", "advance", "quit", "export", "signoff", "event"])
def test_dialog(snap_compare, fixed, size, dialog):
    name, keys = dialog
    assert snap(snap_compare, fixed, [], opened(*keys, until=name), size=size)


@pytest.mark.parametrize("theme", ["mdm-light", "mdm-high-contrast"])  # mdm-dark: test_screen's
def test_dashboard_theme(snap_compare, fixed, theme):
    assert snap(snap_compare, fixed, ["1"], _settle, size=(160, 48), theme=theme)


@SIZES
def test_plan_error(snap_compare, size):
    """A plan that does not load, full screen, when the console was started on it."""
    from mdm_console.exits import EXIT_USAGE, CliExit

    async def opener():
        raise CliExit(EXIT_USAGE, "/srv/cutover/mdm-plan.toml: plan invalid:\n" + "\n".join(
            f"  components[{i}].flag_key: the key 'app.{i}' is used by components[0] too" for i in range(1, 9)))

    app = ConsoleApp(opener=opener, opening="/srv/cutover/mdm-plan.toml", keymap={}, tick_seconds=None)
    assert snap_compare(app, terminal_size=size, run_before=_settle)
