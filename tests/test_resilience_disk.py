"""Resilience: a full disk is named as such, stops no watch, changes no flag, and leaves nothing ahead of the log.

Needs a small tmpfs, so root; skipped otherwise, saying why."""

from __future__ import annotations

import os
import shutil
import subprocess
import textwrap
import time
from pathlib import Path

import pytest

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds.parse import Sample
from mdm_console.plan.load import load_plan

pytestmark = pytest.mark.skipif(os.geteuid() != 0 or shutil.which("mount") is None,
                                reason="mounting a small tmpfs to fill needs root")


@pytest.fixture
def small_disk(tmp_path):
    mnt = tmp_path / "disk"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=8m,mode=0755", "tmpfs", str(mnt)], capture_output=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {r.stderr.decode().strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(mnt: Path) -> Path:
    filler = mnt / "filler"
    with open(filler, "wb") as fh:
        try:
            while True:
                fh.write(b"x" * 65536)
                fh.flush()
        except OSError:
            pass
    return filler


async def test_a_full_disk_is_named_stops_no_watch_and_moves_no_flag(tmp_path, small_disk):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(textwrap.dedent(f"""\
        version = 1
        [cutover]
        name = "full disk"
        flag_file = "{small_disk}/flags.json"
        session_db = "{small_disk}/session.duckdb"
        [[components]]
        id = "storage"
        flag_key = "mdm.new_backend"
        [metrics]
        source = "jsonl"
        path = "ops.jsonl"
        interval_seconds = 1
        [alerts.auto_rollback]
        mode = "off"
    """))
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    flags_before = e.loaded.flag_file.read_bytes()
    filler = fill(small_disk)

    with pytest.raises(Exception, match="No space left on device"):
        await e.rollout.advance("storage", override="while full")
    assert e.loaded.flag_file.read_bytes() == flags_before  # no flag change without its events
    with pytest.raises(Exception, match="the session log is not writable: No space left on device"):
        await e.record("checklist.note", None, {"item": "x", "text": "n" * 20_000})
    assert e.store.write_error.startswith("No space left on device")  # shown on every screen's status line

    now = time.time()
    for _ in range(40):  # a new path failing 50 %: the error-rate alert is due
        m.windows.add(Sample(now, "storage", "new", 1, 0, 10.0, None, True))
        m.windows.add(Sample(now, "storage", "new", 0, 1, 10.0, None, True))
    await m.tick()  # its event cannot be written: the tick survives and the level stays unrecorded
    assert "error_rate:storage" not in e.state.alerts and "error_rate:storage" not in m.book.active

    filler.unlink()
    await m.tick()  # space is back: the alert is raised and recorded
    assert e.state.alerts["error_rate:storage"]["level"] == "critical"
    assert e.store.write_error is None
    assert (await e.verify()).ok
    await e.close()
