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
            assert "cannot be read as the flag file (Is a directory)" in r.stderr or "Is a directory" in r.stderr


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
