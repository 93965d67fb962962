"""Resilience: the drift watch and every command survive whatever the file system holds."""

from __future__ import annotations

import asyncio
import json
import shutil

import pytest

from mdm_console.engine.core import Engine
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli


@pytest.fixture
def advanced(plan_file):
    assert run_cli("advance", "storage", "--override", "t", "--plan", str(plan_file)).returncode == 0
    return plan_file


def test_a_flag_file_replaced_by_a_directory_gets_one_line_from_every_command(advanced):
    flag = advanced.parent / "state" / "flags.flagd.json"
    flag.unlink()
    flag.mkdir()
    for args, code in ((("status",), 0), (("advance", "features", "--override", "t"), 1),
                       (("rollback", "--kind", "flags", "--yes"), 1), (("points",), 0), (("verify-log",), 0),
                       (("advance", "storage", "--dry-run"), None)):
        r = run_cli(*args, "--plan", str(advanced))
        assert "Traceback" not in r.stderr + r.stdout, (args, r.stderr)
        if code is not None:
            assert r.returncode == code, (args, r.stderr)
        if code == 1:
            assert "Is a directory" in r.stderr


async def test_the_drift_watch_survives_a_directory_and_notices_later_edits(advanced):
    e = await Engine.open(load_plan(advanced), record_start="test")
    stop, ready = asyncio.Event(), asyncio.Event()
    watch = asyncio.create_task(e.rollout.watch_drift(stop, every=0.05, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    flag = e.loaded.flag_file
    good = flag.read_bytes()
    async with e.subscribe() as q:
        flag.unlink()
        flag.mkdir()
        ev = await asyncio.wait_for(q.get(), 10)
        assert ev.kind == "alert.raised" and "cannot be read as the flag file" in ev.payload["message"]
        shutil.rmtree(flag)
        doc = json.loads(good)
        doc["flags"]["mdm.new_backend"]["defaultVariant"] = "on"
        doc["flags"]["mdm.new_backend"].pop("targeting", None)
        flag.write_text(json.dumps(doc))
        ev = await asyncio.wait_for(q.get(), 10)
    assert ev.kind == "alert.raised" and "gives 100 %" in ev.payload["message"]
    assert not watch.done()
    stop.set()
    await asyncio.wait_for(watch, 10)
    await e.close()


def test_an_unexpected_error_is_one_line_naming_a_private_traceback_file(advanced, tmp_path, monkeypatch):
    import os
    import stat

    state = tmp_path / "st"
    # Whatever fails unexpectedly ends in one line; the failure is injected into the real entry point.
    (tmp_path / "sitecustomize.py").write_text(
        "import mdm_console.cli.status as s\n"
        "def boom(args):\n    raise RuntimeError('simulated failure')\n"
        "s.run = boom\n")
    r = run_cli("status", "--plan", str(advanced),
                env={"PYTHONPATH": str(tmp_path), "MDM_STATE_DIR": str(state)})
    assert r.returncode == 1
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "unexpected error: RuntimeError: simulated failure" in lines[0]
    [crash] = list(state.glob("crash-*.txt"))
    assert str(crash) in lines[0] and "simulated failure" in crash.read_text()
    assert stat.S_IMODE(os.stat(crash).st_mode) == 0o600


async def test_a_deleted_session_db_refuses_changes_and_says_so(advanced):
    loaded = load_plan(advanced)
    e = await Engine.open(loaded, record_start="test")
    await e.rollout.ensure_flag_file()
    flags_before = e.loaded.flag_file.read_bytes()
    db = loaded.session_db
    db.unlink()
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    with pytest.raises(Exception, match="was deleted"):
        await e.rollout.advance("features", override="after the db went away")
    assert e.loaded.flag_file.read_bytes() == flags_before  # no flag change without its record
    assert e.store.lost and "was deleted" in e.store.lost
    with pytest.raises(Exception, match="was deleted"):
        await e.record("checklist.note", None, {"item": "a", "text": "lost?"})
    await e.close()


async def test_a_replaced_session_db_is_noticed_by_the_monitor_within_a_tick(advanced, tmp_path):
    from mdm_console.engine.live import LiveMonitor

    loaded = load_plan(advanced)
    e = await Engine.open(loaded, record_start="test")
    m = LiveMonitor(e, system=False)
    db = loaded.session_db
    shutil.copy(db, tmp_path / "copy.duckdb")
    db.unlink()
    shutil.copy(tmp_path / "copy.duckdb", db)  # same name, another file
    await m.tick()
    assert e.store.lost and "replaced by another file" in e.store.lost
    await e.close()


async def test_keys_that_change_the_session_say_why_when_the_log_cannot_take_it(advanced):
    """With the db gone, `v` and `p` answer with a notice: the console stays up and closes cleanly."""
    from mdm_console.ui.app import ConsoleApp
    from tests.ui_helpers import until

    e = await Engine.open(load_plan(advanced), record_start="test")
    await e.rollout.ensure_flag_file()
    db = e.store.path
    db.unlink()
    db.with_name(db.name + ".wal").unlink(missing_ok=True)
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=(120, 40), notifications=True) as pilot:
        await pilot.press("3", "v")
        await pilot.press("2", "p")
        await until(pilot, lambda: type(app.screen).__name__ == "ReasonModal")  # pausing says what it does first
        await pilot.press("enter")
        await until(pilot, lambda: len(app._notifications) >= 2)
        assert all("was deleted" in n.message for n in app._notifications)
        assert app.is_running
        await until(pilot, lambda: "SESSION LOG LOST" in str(app.screen.query_one("StatusLine").render()))
    await e.close()
