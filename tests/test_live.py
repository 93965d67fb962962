"""The live monitor on a real engine: alerts with hysteresis, stored aggregates, and the whole
loop with the real demo-workload process evaluating our flag file through the flagd provider."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import textwrap
import time
from datetime import UTC, datetime


from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.feeds.alerts import AlertBook, Rule
from mdm_console.plan.load import load_plan
from mdm_console.plan.models import Levels
from mdm_console.store import metrics as mstore


def test_alert_hysteresis_does_not_flap():
    book = AlertBook()
    rule = Rule("error_rate", Levels(warning=0.02, critical=0.05))
    seen = []
    for v in [0.01, 0.021, 0.019, 0.0195, 0.021, 0.016, 0.06, 0.049, 0.048, 0.046, 0.010]:
        t = book.judge("error_rate:storage", "storage", rule, v)
        seen.append(None if t is None else (t.level or "cleared"))
    assert seen == [None, "warning", None, None, None, "cleared", "critical", None, None, "warning", "cleared"]


def test_a_level_must_hold_for_seconds_to_raise_and_the_value_stay_clear_to_clear():
    """The host's CPU on a busy 2-core box: 85 % and 60 % every 2 s raised and cleared an alert each time."""
    book = AlertBook()
    rule = Rule("cpu_percent", Levels(warning=80, critical=90, clear=70, for_seconds=10))
    seen = []
    for n, v in enumerate([85, 60] * 10):  # flapping every 2 s for 40 s: never raised
        seen.append(book.judge("cpu_percent:host", "host", rule, v, now=n * 2.0))
    assert seen == [None] * 20 and "cpu_percent:host" not in book.active
    t0 = 100.0
    raised = [book.judge("cpu_percent:host", "host", rule, 85, now=t0 + s) for s in range(0, 12, 2)]
    assert raised[:5] == [None] * 5 and raised[5].level == "warning" and "for 10 s" in raised[5].message
    # 75 % is below warning but above `clear`: the alert stays; below clear it needs 10 s without a break.
    assert book.judge("cpu_percent:host", "host", rule, 75, now=t0 + 20) is None
    assert book.judge("cpu_percent:host", "host", rule, 65, now=t0 + 22) is None
    assert book.judge("cpu_percent:host", "host", rule, 85, now=t0 + 26) is None  # back up: the clear starts over
    assert book.judge("cpu_percent:host", "host", rule, 65, now=t0 + 28) is None
    assert book.judge("cpu_percent:host", "host", rule, 65, now=t0 + 37) is None
    cleared = book.judge("cpu_percent:host", "host", rule, 65, now=t0 + 38)
    assert cleared.level is None and "back to 65 % for 10 s" in cleared.message


def test_clear_levels_are_checked_against_warning(tmp_path):
    import pytest

    from mdm_console.plan.load import PlanError
    from tests.test_adoption import load_plan_text

    base = 'version = 1\n[cutover]\nname = "x"\nflag_file = "f.json"\n[[components]]\nid = "a"\nflag_key = "k"\n'
    with pytest.raises(PlanError, match="alerts.cpu_percent.clear: must not be above warning"):
        load_plan_text(tmp_path, base + "[alerts]\ncpu_percent = { warning = 80, critical = 90, clear = 85 }\n")


def test_success_rate_alerts_when_it_falls_below():
    book = AlertBook()
    rule = Rule("success_rate", Levels(warning=0.98, critical=0.95), below=True)
    assert book.judge("s", "storage", rule, 0.99) is None
    t = book.judge("s", "storage", rule, 0.94)
    assert t.level == "critical" and "< critical level 95.00 %" in t.message
    assert book.judge("s", "storage", rule, 0.952) is None  # within the margin (10 % of 0.98 - 0.95): holds
    assert book.judge("s", "storage", rule, 0.99).level is None


def plan_text(tmp_path, mode="auto", for_seconds=3):
    return textwrap.dedent(f"""\
        version = 1
        [cutover]
        name = "live"
        flag_file = "state/flags.json"
        [gate]
        min_stage_seconds = 0
        [[components]]
        id = "storage"
        flag_key = "mdm.new_backend"
        [[components]]
        id = "features"
        flag_key = "mdm.new_features"
        [metrics]
        source = "jsonl"
        path = "metrics/ops.jsonl"
        interval_seconds = 1
        window_seconds = 60
        [alerts.auto_rollback]
        mode = "{mode}"
        error_rate_above = 0.05
        for_seconds = {for_seconds}
    """)


async def test_aggregates_are_stored_and_reloaded_after_a_restart(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    (tmp_path / "metrics").mkdir()
    now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
    lines = [f'{{"ts": "{now}", "component": "storage", "outcome": "{o}", "latency_ms": 12, "variant": "new"}}'
             for o in ["success"] * 30 + ["error"] * 3]
    (tmp_path / "metrics" / "ops.jsonl").write_text("\n".join(lines) + "\n")
    e = await Engine.open(load_plan(plan), record_start="test")
    m = LiveMonitor(e, system=False)
    await m.start()
    deadline = time.monotonic() + 5
    while m.stats("storage").ops < 33 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await m.stop()
    rows = await e.store.acall(mstore.load_all)
    await e.close()
    assert sum(r[3] for r in rows) == 33 and sum(r[5] for r in rows) == 3

    e = await Engine.open(load_plan(plan), record_start="test")
    m = LiveMonitor(e, system=False)
    await m.start()
    deadline = time.monotonic() + 10
    while m.feed.reads == 0 and time.monotonic() < deadline:  # the restarted feed has read the file once
        await asyncio.sleep(0.01)
    assert m.feed.reads > 0
    st = m.stats("storage")
    await m.stop()
    await e.close()
    assert (st.ops, st.error) == (33, 3)  # restored from the store, and the file was not read twice


async def test_a_faulty_canary_raises_the_alert_and_auto_rollback_restores_zero(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="auto", for_seconds=3))
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    await m.start()
    workload = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags",
                                 str(e.loaded.flag_file), "--metrics", str(tmp_path / "metrics" / "ops.jsonl"),
                                 "--rate", "600", "--fault", "storage:0.5", "--seed", "1"])
    try:
        async with e.subscribe() as q:
            await e.rollout.advance("storage", override="fault drill")
            t_canary = time.monotonic()
            kinds: dict[str, float] = {}
            while "rollback.finished" not in kinds:
                ev = await asyncio.wait_for(q.get(), 30)
                kinds.setdefault(ev.kind if ev.kind != "alert.raised" else f"alert:{ev.payload['alert']}",
                                 time.monotonic() - t_canary)
                if ev.kind == "rollback.proposed":
                    proposed = ev
    finally:
        workload.terminate()
        workload.wait(10)
        await m.stop()
    assert "alert:error_rate:storage" in kinds
    assert proposed.payload["mode"] == "auto" and proposed.payload["criterion"] == "error_rate"
    assert e.state.components["storage"].percent == 0
    assert kinds["alert:error_rate:storage"] < kinds["rollback.finished"]  # how soon: benchmarks/, not here
    flags = __import__("json").loads(e.loaded.flag_file.read_text())["flags"]["mdm.new_backend"]
    assert flags["metadata"]["percent"] == 0
    changed = [ev for ev in await e.events() if ev.kind == "stage.changed"][-1]
    assert changed.payload["rollback"]["automatic"] is True
    await e.close()


async def test_per_operation_lines_at_a_high_rate_reach_the_windows_summed(tmp_path):
    """`demo-workload --per-op` writes one line per operation above 1 000 ops/s (by default it writes aggregates
    there); the live feed reads them in batches, summed per bucket, and every operation is counted once."""
    import json

    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.rollout.ensure_flag_file()
    ops_file = tmp_path / "metrics" / "ops.jsonl"
    workload = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags",
                                 str(e.loaded.flag_file), "--metrics", str(ops_file), "--rate", "2000", "--per-op",
                                 "--seed", "3"])
    try:
        deadline = time.monotonic() + 60
        while not ops_file.exists() or ops_file.stat().st_size < 200_000:
            assert time.monotonic() < deadline, "the workload wrote too little in 60 s"
            await asyncio.sleep(0.1)
    finally:
        workload.terminate()
        workload.wait(10)
    lines = [json.loads(x) for x in ops_file.read_text().splitlines()]
    assert len(lines) > 1000 and all("outcome" in x for x in lines)  # one line per operation
    m = LiveMonitor(e, system=False)
    await m.start()
    try:
        deadline = time.monotonic() + 30
        while m.feed.status.good < len(lines):
            assert time.monotonic() < deadline, f"{m.feed.status.good} of {len(lines)} lines read"
            await asyncio.sleep(0.05)
        total = sum(m.stats(c).ops for c in ("storage", "features"))
    finally:
        await m.stop()
        await e.close()
    assert m.feed.status.bad == 0
    assert total == sum(1 for x in lines if x["component"] in ("storage", "features"))


async def test_the_console_serves_its_own_metrics(tmp_path):
    import socket
    import urllib.request

    from mdm_console.engine.exporter import Exporter

    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.rollout.ensure_flag_file()
    await e.rollout.advance("storage", override="metrics test")
    await e.record("alert.raised", None, {"alert": "x", "level": "warning", "message": "m"})
    m = LiveMonitor(e, system=False)
    await m.start()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    ex = Exporter(e, m, port)
    try:
        ex.update()
        written = e.state.head_seq  # what the update saw (the monitor may record more before the scrape)
        text = await asyncio.to_thread(
            lambda: urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode())
    finally:
        ex.close()
        await m.stop()
        await e.close()
    assert 'mdm_console_stage_percent{component="storage",stage="canary"} 5.0' in text
    assert 'mdm_console_active_alerts{level="warning"} 1.0' in text
    assert f"mdm_console_events_written {float(written)}" in text
    assert 'mdm_console_gate_ok{component="storage",gate="stage_time"}' in text
