"""Trust: a feed never dies silently; one bad line is counted with its reason and the feed goes on."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import UTC, datetime

import duckdb
import pytest

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds import parse as parse_mod
from mdm_console.feeds.jsonl import JsonlFeed
from mdm_console.feeds.parse import BadLine, parse_line
from mdm_console.feeds.windows import Windows
from mdm_console.plan.load import load_plan
from mdm_console.store import metrics as mstore
from tests.test_live import plan_text


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


async def wait_for(predicate, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("line, reason", [
    ("[" * 30_000 + "]" * 30_000, "nested too deeply"),
    ('{"ts": "%s", "component": "storage", "success": 3000000000, "error": 0}', "over the per-line maximum"),
    ('{"ts": "%s", "component": "storage", "success": 1, "error": 1e30}', "non-negative integer"),
])
def test_a_hostile_line_is_bad_with_its_reason(line, reason):
    now = time.time()
    text = line % iso(now) if "%s" in line else line
    with pytest.raises(BadLine, match=reason):
        parse_line(text, {"storage"}, now)


def test_the_feed_goes_on_after_a_line_that_breaks_the_parser(tmp_path, monkeypatch):
    """Whatever a line makes the parser raise, it is one bad line; the lines after it count."""
    real = parse_mod.parse_line

    def fragile(line, components, now):
        if b"boom" in line:
            raise MemoryError("the parser gave up")
        return real(line, components, now)

    monkeypatch.setattr(parse_mod, "parse_line", fragile)  # what judges a line the typed decoder does not read
    w = Windows(["storage"], 300)
    feed = JsonlFeed(tmp_path / "ops.jsonl", {"storage"}, w.add_tally, 1.0)
    ok = json.dumps({"ts": iso(time.time()), "component": "storage", "outcome": "success", "variant": "new"})
    (tmp_path / "ops.jsonl").write_text(f"{ok}\nboom\n{'[' * 30_000}\n{ok}\n")
    for s in feed.read_available():
        feed.sink(s)
    assert (feed.status.good, feed.status.bad) == (2, 2)
    assert w.stats("storage", datetime.now(UTC)).ops == 2


async def test_a_feed_task_that_dies_is_restarted_shown_and_recorded(tmp_path, monkeypatch):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    (tmp_path / "metrics").mkdir()
    calls = {"n": 0}
    real_run = JsonlFeed.run

    async def dies_once(self, stop, lock=None, every=0.5):
        calls["n"] += 1
        if calls["n"] == 1:
            raise RuntimeError("the tail broke")
        await real_run(self, stop, lock, every)

    monkeypatch.setattr(JsonlFeed, "run", dies_once)
    e = await Engine.open(load_plan(plan), record_start="test")
    m = LiveMonitor(e, system=False)
    async with e.subscribe() as q:
        await m.start()
        ev = await asyncio.wait_for(q.get(), 10)
        while ev.kind != "task.restarted":
            ev = await asyncio.wait_for(q.get(), 10)
    assert ev.payload["task"] == "feed" and "the tail broke" in ev.payload["error"]
    assert "feed failed (RuntimeError: the tail broke)" in m.feed.status.error
    line = json.dumps({"ts": iso(time.time()), "component": "storage", "outcome": "success", "variant": "new"})
    (tmp_path / "metrics" / "ops.jsonl").write_text(line + "\n")
    await wait_for(lambda: m.stats("storage").ops == 1 and m.feed.status.good == 1)
    await m.stop()
    await e.close()


async def test_counts_past_32_bits_are_stored(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    (tmp_path / "metrics").mkdir()
    t = time.time()
    line = json.dumps({"ts": iso(t), "component": "storage", "success": 9_000_000, "error": 0, "variant": "new"})
    (tmp_path / "metrics" / "ops.jsonl").write_text((line + "\n") * 300)  # 2.7e9 in one 5 s bucket
    e = await Engine.open(load_plan(plan), record_start="test")
    m = LiveMonitor(e, system=False)
    await m.start()
    await wait_for(lambda: m.feed.status.good == 300)
    await m.stop()
    rows = await e.store.acall(mstore.load_all)
    await e.close()
    assert sum(r[4] for r in rows) == 2_700_000_000


async def test_an_older_session_db_gets_64_bit_counts(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    loaded = load_plan(plan)
    e = await Engine.open(loaded, record_start="test")
    await e.close()
    con = duckdb.connect(str(loaded.session_db))
    for c in ("ops", "success", "error"):
        con.execute(f"ALTER TABLE metrics ALTER COLUMN {c} TYPE INTEGER")
    con.close()
    e = await Engine.open(loaded, record_start="test")
    types = await e.store.acall(lambda con: dict(con.execute(
        "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'metrics'").fetchall()))
    await e.close()
    assert (types["ops"], types["success"], types["error"]) == ("BIGINT", "BIGINT", "BIGINT")
