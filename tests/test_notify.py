"""Notifications through Apprise to a real local HTTP receiver (its JSON target): the fields of the message,
repeats collapsed, a failing receiver retried then recorded, a hanging one delaying neither another target nor a
key press, and a secret URL from the environment in no event, export or output."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import textwrap
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mdm_console.engine.core import Engine
from mdm_console.engine.live import LiveMonitor
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli


class Receiver:
    """A 127.0.0.1 HTTP server that records what it is sent; `mode` says how it answers."""

    def __init__(self, mode: str = "ok"):
        self.got: list[dict] = []
        self.calls = 0
        self.mode = mode
        self.release = threading.Event()
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                n = int(self.headers.get("Content-Length", 0))
                body = json.loads(self.rfile.read(n))
                outer.calls += 1
                if outer.mode == "hang":
                    outer.release.wait(30)  # never answers while the test runs
                    return
                if outer.mode == "500":
                    self.send_response(500)
                    self.end_headers()
                    return
                outer.got.append(body)
                self.send_response(200)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.srv.daemon_threads = True
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()

    @property
    def url(self) -> str:
        return f"json://127.0.0.1:{self.srv.server_address[1]}/hook"

    def close(self) -> None:
        self.release.set()
        self.srv.shutdown()
        self.srv.server_close()


@pytest.fixture
def receivers():
    made = []

    def make(mode="ok"):
        r = Receiver(mode)
        made.append(r)
        return r

    yield make
    for r in made:
        r.close()


def plan_text(targets: str, mode: str = "off") -> str:
    return textwrap.dedent(f"""\
        version = 1
        [cutover]
        name = "notify"
        flag_file = "state/flags.json"
        [gate]
        min_stage_seconds = 0
        [[components]]
        id = "storage"
        flag_key = "mdm.new_backend"
        [metrics]
        source = "jsonl"
        path = "metrics/ops.jsonl"
        interval_seconds = 1
        window_seconds = 60
        [alerts.auto_rollback]
        mode = "{mode}"
        for_seconds = 0
    """) + textwrap.dedent(targets)


async def wait_for(predicate, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def started(tmp_path, targets: str, mode: str = "off"):
    (tmp_path / "mdm-plan.toml").write_text(plan_text(targets, mode))
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    await m.start()
    return e, m


def kinds(events, kind):
    return [ev for ev in events if ev.kind == kind]


async def test_an_alert_arrives_with_its_fields_and_repeats_collapse(tmp_path, receivers):
    r = receivers()
    e, m = await started(tmp_path, f"""
        [[notify]]
        name = "bridge"
        url = "{r.url}"
        min_interval_seconds = 1.5
    """)
    try:
        raised = await e.record("alert.raised", None, {"alert": "error_rate:storage", "level": "critical",
                                                       "message": "storage new path error_rate 10.00 % > critical",
                                                       "value": 0.1, "threshold": 0.05})
        await wait_for(lambda: len(r.got) == 1)
        msg = r.got[0]
        assert msg["title"] == "CRITICAL: error_rate:storage" and msg["type"] == "failure"
        body = dict(line.split(": ", 1) for line in msg["message"].splitlines())
        assert body["value"] == "0.1" and body["threshold"] == "0.05" and body["event seq"] == str(raised.seq)
        assert body["who"].startswith("tester (") and body["cutover"] == "notify"
        # The same alert raised again (cleared and raised, flapping) within the interval: one message, counted.
        for _ in range(3):
            await e.record("alert.cleared", None, {"alert": "error_rate:storage", "message": "back"})
            await e.record("alert.raised", None, {"alert": "error_rate:storage", "level": "critical",
                                                  "message": "again", "value": 0.2, "threshold": 0.05})
        await wait_for(lambda: len(r.got) == 2)
        assert r.got[1]["title"] == "CRITICAL: error_rate:storage (x3)"
        assert r.got[1]["message"].startswith("repeated 3 time(s) since ")
        assert "value: 0.2" in r.got[1]["message"]  # the latest of the repeats, as it was at its own seq
        await wait_for(lambda: e.state.notify.get("bridge", {}).get("sent") == 2)
        sent = kinds(await e.events(), "notify.sent")
        assert sent[0].payload["seq"] == raised.seq and sent[0].payload["attempt"] == 1
    finally:
        await m.stop()
        await e.close()
    assert len(r.got) == 2  # the cleared ones were not asked for (send_clears is off)


async def test_a_receiver_that_answers_500_is_retried_then_recorded_failed(tmp_path, receivers, monkeypatch):
    import mdm_console.notify

    monkeypatch.setattr(mdm_console.notify, "RETRY_BACKOFF_S", 0.05)
    r = receivers("500")
    e, m = await started(tmp_path, f"""
        [[notify]]
        name = "broken"
        url = "{r.url}"
        retries = 2
    """)
    try:
        ev = await e.record("stage.changed", "storage", {
            "component": "storage", "from": "testing", "to": "canary", "from_percent": 0, "to_percent": 5,
            "how": "advance", "reason": "go", "intent": "i-test", "flag_seq": 1})
        await wait_for(lambda: e.state.notify.get("broken", {}).get("failed") == 1)
        failed = kinds(await e.events(), "notify.failed")
        assert [f.payload["attempt"] for f in failed] == [1, 2, 3] and r.calls == 3
        assert [f.payload["final"] for f in failed] == [False, False, True]
        assert all(f.payload["seq"] == ev.seq and f.payload["error"] for f in failed)
    finally:
        await m.stop()
        await e.close()


async def test_a_hanging_target_delays_neither_another_target_nor_the_console(tmp_path, receivers):
    from mdm_console.ui.app import ConsoleApp
    from tests.ui_helpers import until

    hang, good = receivers("hang"), receivers()
    (tmp_path / "mdm-plan.toml").write_text(plan_text(f"""
        [[notify]]
        name = "stuck"
        url = "{hang.url}"
        timeout_seconds = 20
        retries = 0
        [[notify]]
        name = "bridge"
        url = "{good.url}"
    """))
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    await m.start()
    app = ConsoleApp(e, monitor=m, keymap={})
    async with app.run_test(size=(150, 45)) as pilot:
        await until(pilot, lambda: app.ready)
        await e.record("alert.raised", None, {"alert": "feed_stale:jsonl", "level": "error", "message": "stale"})
        await until(pilot, lambda: hang.calls == 1)  # the stuck target holds its request open
        await until(pilot, lambda: len(good.got) == 1)  # the other target got its message all the same
        assert good.got[0]["title"] == "ERROR: feed_stale:jsonl"
        for key, name in (("2", "RolloutScreen"), ("5", "SessionLogScreen"), ("1", "DashboardScreen")):
            await pilot.press(key)  # keys work while a delivery hangs
            await until(pilot, lambda n=name: type(app.screen).__name__ == n)
        assert hang.calls == 1 and "stuck" not in e.state.notify  # still waiting, nothing recorded for it yet
    await m.stop()
    await e.close()


async def test_a_secret_url_from_the_environment_is_in_no_event_export_or_output(tmp_path, receivers, monkeypatch):
    r = receivers("500")
    secret_url = r.url + "/T0KEN-s3cr3t-abcdef123456"
    monkeypatch.setenv("MDM_TEST_HOOK", secret_url)
    e, m = await started(tmp_path, """
        [[notify]]
        name = "bridge"
        url_env = "MDM_TEST_HOOK"
        retries = 0
    """)
    try:
        await e.record("alert.raised", None, {"alert": "x:storage", "level": "critical", "message": "boom"})
        await wait_for(lambda: e.state.notify.get("bridge", {}).get("failed") == 1)
    finally:
        await m.stop()
        await e.close()
    r_export = run_cli("export", "--format", "jsonl", "--output", str(tmp_path / "log.jsonl"), "--plan",
                       str(tmp_path / "mdm-plan.toml"))
    assert r_export.returncode == 0, r_export.stderr
    r_test = run_cli("notify-test", "--plan", str(tmp_path / "mdm-plan.toml"), env={"MDM_TEST_HOOK": secret_url})
    assert r_test.returncode == 1 and "bridge: FAILED" in r_test.stdout
    for text in ((tmp_path / "log.jsonl").read_text(), r_test.stdout, r_test.stderr, r_export.stdout):
        assert "T0KEN-s3cr3t-abcdef123456" not in text


def test_notify_test_reports_each_target(tmp_path, receivers):
    good, bad = receivers(), receivers("500")
    (tmp_path / "mdm-plan.toml").write_text(plan_text(f"""
        [[notify]]
        name = "bridge"
        url = "{good.url}"
        [[notify]]
        name = "pager"
        url = "{bad.url}"
        [[notify]]
        name = "file"
        url = "mdmfile://notes.jsonl"
    """))
    r = run_cli("notify-test", "--plan", str(tmp_path / "mdm-plan.toml"))
    assert r.returncode == 1
    lines = r.stdout.splitlines()
    assert lines[0].startswith("bridge: ok") and lines[1].startswith("pager: FAILED") and lines[2].startswith("file: ok")
    assert good.got[0]["title"] == "mdm-console test message: notify"
    note = json.loads((tmp_path / "notes.jsonl").read_text())
    assert note["title"] == "mdm-console test message: notify" and (tmp_path / "notes.jsonl").stat().st_mode & 0o777 == 0o600
    r = run_cli("notify-test", "--to", "bridge", "--plan", str(tmp_path / "mdm-plan.toml"))
    assert r.returncode == 0 and len(good.got) == 2


async def test_the_demo_workloads_fault_reaches_the_receiver_as_an_alert(tmp_path, receivers):
    r = receivers()
    e, m = await started(tmp_path, f"""
        [[notify]]
        name = "bridge"
        url = "{r.url}"
        events = ["alert.raised", "auto_rollback"]
    """, mode="auto")
    workload = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags",
                                 str(e.loaded.flag_file), "--metrics", str(tmp_path / "metrics" / "ops.jsonl"),
                                 "--rate", "600", "--fault", "storage:0.5", "--seed", "1"])
    try:
        await e.rollout.advance("storage", override="fault drill")
        await wait_for(lambda: any(g["title"] == "CRITICAL: error_rate:storage" for g in r.got), 60)
        await wait_for(lambda: any(g["title"].startswith("ROLLBACK started by the policy") for g in r.got), 60)
    finally:
        workload.terminate()
        workload.wait(10)
        await m.stop()
        await e.close()
    alert = next(g for g in r.got if g["title"] == "CRITICAL: error_rate:storage")
    assert "storage new path error_rate" in alert["message"] and "threshold: 0.05" in alert["message"]
    auto = next(g for g in r.got if g["title"].startswith("ROLLBACK started by the policy"))
    assert "who: policy:auto_rollback" in auto["message"] and "present: tester" in auto["message"]


async def test_every_topic_builds_a_message_from_the_real_events(plan_file):
    """Each kind of event a target may hear, as the engine records it, becomes a message naming its seq."""
    from mdm_console.engine.rollback import RollbackRequest
    from mdm_console.notify.messages import build, topics_of
    from tests.test_checklist import PLAN

    plan_file.write_text(PLAN.replace('id = "cfg"\nkind = "file"', 'id = "cfg"\nkind = "file"\ncritical = true'))
    e = await Engine.open(load_plan(plan_file), record_start="test")
    try:
        await e.rollout.ensure_flag_file()
        await e.rollout.advance("storage", override="drill", reason="start")
        await e.rollback.run(RollbackRequest("component", component="storage", reason="drill", automatic=True))
        await e.checklist.complete("a")
        await e.checklist.sign("QA", "Quinn")
        (plan_file.parent / "config" / "app.toml").write_text("not toml [")
        await e.validation.run("preflight")
        await e.record("verdict.changed", "storage", {"verdict": "regression", "text": "errors +1.00 pp", "stage": "x",
                                                      "errors": {}, "latency": None})
        await e.record("alert.raised", None, {"alert": "feed_stale:jsonl", "level": "error", "message": "stale"})
        seen = set()
        for ev in await e.events():
            for topic in topics_of(ev):
                m = build(ev, topic, "cutover")
                assert f"event seq: {ev.seq}" in m.body and m.title
                seen.add(topic)
    finally:
        await e.close()
    assert seen >= {"stage.changed", "rollback.started", "auto_rollback", "rollback.finished", "signoff.recorded",
                    "validation.failed", "verdict.regression", "feed.stale", "alert.raised"}


async def test_the_delivery_process_is_started_again_when_it_dies(tmp_path, receivers):
    r = receivers()
    e, m = await started(tmp_path, f"""
        [[notify]]
        name = "bridge"
        url = "{r.url}"
    """)
    try:
        dispatcher = m.notifier.dispatcher
        assert await asyncio.to_thread(dispatcher.wait_loaded, 30)
        first = dispatcher._proc
        first.kill()  # the worker process dies (OOM killer, a bug)
        await asyncio.to_thread(first.wait, 10)
        await e.record("alert.raised", None, {"alert": "x:storage", "level": "critical", "message": "after"})
        await wait_for(lambda: len(r.got) == 1)
        assert dispatcher._proc is not first and r.got[0]["title"] == "CRITICAL: x:storage"
    finally:
        await m.stop()
        await e.close()
    assert first.returncode is not None and dispatcher._proc.poll() is not None  # none is left behind


def test_a_one_shot_cli_change_delivers_its_notifications_before_it_exits(tmp_path, receivers):
    good, hanging, broken = receivers(), receivers("hang"), receivers("500")
    (tmp_path / "mdm-plan.toml").write_text(plan_text(f"""
        [[notify]]
        name = "bridge"
        url = "{good.url}"
        events = ["stage.changed"]
        [[notify]]
        name = "broken"
        url = "{broken.url}"
        events = ["stage.changed"]
        retries = 0
        [[notify]]
        name = "pager"
        url = "{hanging.url}"
        events = ["stage.changed"]
        timeout_seconds = 1
        retries = 0
    """))
    r = run_cli("advance", "storage", "--override", "one-shot drill", "--plan", str(tmp_path / "mdm-plan.toml"))
    assert r.returncode == 0, r.stderr  # no console, no serve: this command is the only one to tell anybody
    assert [m["title"] for m in good.got] == ["storage: testing -> canary (5 %)"]

    async def records():
        e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), read_only=True)
        try:
            return await e.events()
        finally:
            await e.close()

    events = asyncio.run(records())
    sent = kinds(events, "notify.sent")
    assert [(ev.payload["target"], ev.payload["topic"]) for ev in sent] == [("bridge", "stage.changed")]
    failed = {ev.payload["target"]: ev.payload for ev in kinds(events, "notify.failed")}
    assert set(failed) == {"broken", "pager"} and all(p["final"] for p in failed.values())
    # Each failure in its own words: the hanging target's is not the 500 that the other target got meanwhile.
    assert "500" in failed["broken"]["error"] and "500" not in failed["pager"]["error"]
