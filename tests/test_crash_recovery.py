"""A crash never switches the safety net off: a rollback a kill -9 interrupted is finished at the next start (the
safe direction, towards less traffic), and a rollback that cannot write backs off and says once what blocks it."""

from __future__ import annotations

import asyncio
import errno
import json
import os
import signal
import subprocess
import sys

from mdm_console.api.ops import status_snapshot
from mdm_console.engine import effects
from mdm_console.engine.core import Engine
from mdm_console.plan.load import load_plan
from tests.conftest import run_cli
from tests.test_judgment import at, fault, live  # noqa: F401 - `live` is a fixture
from tests.test_service import Served, events_of, policy_plan


def percent(plan) -> float:
    return json.loads((plan.parent / "state" / "flags.json").read_text())["flags"]["mdm.new_backend"]["metadata"][
        "percent"]


def serve(plan, **env) -> Served:
    proc = subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan", str(plan)],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env={**os.environ, **env})
    return Served(proc)


def stop(s: Served) -> None:
    if s.proc.poll() is None:
        s.proc.send_signal(signal.SIGTERM)
        try:
            s.proc.wait(30)
        except subprocess.TimeoutExpired:
            s.proc.kill()
            s.proc.wait(10)


def test_a_kill_9_between_a_rollbacks_intent_and_its_write_is_finished_at_the_next_start(tmp_path):
    plan = policy_plan(tmp_path)
    flags = plan.parent / "state" / "flags.json"
    workload = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(flags),
                                 "--metrics", str(plan.parent / "metrics" / "ops.jsonl"), "--rate", "600",
                                 "--fault", "storage:0.5", "--seed", "1"])
    # The service's third effect is the policy's rollback: 1 the first flag file, 2 the advance, 3 the rollback.
    s = serve(plan, MDM_FAULT_POINT="effects.before_write", MDM_FAULT_HIT="3")
    try:
        s.wait_for(lambda x: x.get("msg") == "serving")
        r = run_cli("advance", "storage", "--override", "fault drill", "--plan", str(plan))
        assert r.returncode == 0, r.stderr
        assert s.proc.wait(60) == -signal.SIGKILL  # killed by the fault point, mid-rollback
    finally:
        stop(s)
    assert percent(plan) == 5  # the intent is recorded, the flag not yet written
    r = run_cli("reconcile", "--plan", str(plan))  # no owner: read-only, it only lists
    assert "rollback.component" in r.stdout and "suggested: finish" in r.stdout, r.stdout  # never "revert"
    s = serve(plan)  # the canary still fails; nobody acts
    try:
        note = s.wait_for(lambda x: x.get("msg") == "start-up note" and "interrupted by a crash" in x["note"], 60)
        assert "is finished now" in note["note"]
        assert percent(plan) == 0
    finally:
        workload.terminate()
        workload.wait(10)
        stop(s)
    events = asyncio.run(events_of(plan))
    kinds = [ev.kind for ev in events]
    started = [ev for ev in events if ev.kind == "rollback.started"]
    finished = [ev for ev in events if ev.kind == "rollback.finished"]
    assert len(started) == 1 and len(finished) == 1  # one rollback, and it has its end
    assert "a crash stopped it" in finished[0].payload["interrupted"]
    assert finished[0].actor.operator == "recovery:at-start"
    done = next(ev for ev in events if ev.kind == "intent.done" and ev.payload.get("why"))
    assert done.payload["resolution"] == "finished" and "towards less traffic" in done.payload["why"]
    assert kinds.index("intent.done") < kinds.index("rollback.finished")
    # Loud as any automatic rollback, and the component is held.
    assert any(ev.kind == "alert.raised" and ev.payload["alert"] == "auto_rollback:storage" for ev in events)
    assert "rollback.auto_failed" not in kinds


async def test_a_rollback_that_cannot_write_backs_off_and_records_no_attempt(live, monkeypatch):  # noqa: F811
    e, m = await live(mode="auto")
    t = await fault(e, m)
    tries = []

    def read_only(path):  # root writes anywhere: the read-only file system's answer, as the kernel gives it
        tries.append(path)
        raise OSError(errno.EROFS, os.strerror(errno.EROFS))

    monkeypatch.setattr(effects, "probe_dir", read_only)
    points, head = len(e.state.points), e.state.head_seq
    for dt in range(14):  # one pass a second, while the failing seconds stay in the policy's window
        await m._auto_rollback(at(t + dt))
    assert len(tries) == 3  # at 0, 2 and 6 s: backoff, not every second
    kinds = [ev.kind for ev in await e.events(head)]
    assert kinds.count("rollback.auto_failed") == 1 and kinds.count("rollback.proposed") == 1
    assert not {"point.created", "intent", "rollback.started", "effect.failed"} & set(kinds)
    assert len(e.state.points) == points
    alert = status_snapshot(e)["alerts"]
    blocked = next(a for a in alert if a["alert"] == "rollback_blocked:storage")
    assert blocked["level"] == "critical"
    assert blocked["message"].startswith("ROLLBACK PENDING: storage is still at canary (5 %): cannot write the flag")
    assert "Read-only file system" in blocked["message"]
    assert not any(a["alert"].startswith("auto_rollback:") for a in alert)  # nothing claims it rolled back
    assert e.state.components["storage"].held is None and e.state.rollbacks_pending() == ["storage"]
    from mdm_console.cli.status import render

    text = render(status_snapshot(e))
    assert "ROLLBACK PENDING: storage is still at canary (5 %)" in text and "ROLLED BACK" not in text
    monkeypatch.undo()
    await m._auto_rollback(at(t + 14))  # the next try after 8 s: the file system is writable again
    assert e.state.components["storage"].percent == 0
    assert "rollback_blocked:storage" not in e.state.alerts and "auto_rollback:storage" in e.state.alerts
    cleared = [ev for ev in await e.events(head) if ev.kind == "alert.cleared"]
    assert cleared[-1].payload["message"] == "storage was rolled back"


def crash_at_the_write(plan, call: str) -> int:
    """A process that opens the session (finishing what a crash left, as every start does), then makes one change
    and is killed between its intent and its write."""
    code = ("import asyncio, sys\nfrom mdm_console.engine.core import Engine\n"
            "from mdm_console.plan.load import load_plan\n"
            "async def go():\n    e = await Engine.open(load_plan(sys.argv[1]))\n"
            f"    await e.rollout.{call}\n"
            "asyncio.run(go())")
    return subprocess.run([sys.executable, "-c", code, str(plan)], timeout=60,
                          env={**os.environ, "MDM_FAULT_POINT": "effects.before_write"}).returncode


async def test_a_crashed_step_back_is_finished_an_unfinished_advance_is_left_to_a_person(tmp_path):
    from tests.ui_helpers import write_plan

    plan = write_plan(tmp_path)
    e = await Engine.open(load_plan(plan), record_start="test")
    await e.rollout.ensure_flag_file()
    await e.rollout.advance("storage", override="setup")
    await e.close()
    assert crash_at_the_write(plan, "step_back('storage', reason='crash drill')") == -signal.SIGKILL
    # The next start finishes the step back (towards less traffic) before its own advance crashes in turn.
    assert crash_at_the_write(plan, "advance('features', override='crash drill')") == -signal.SIGKILL
    e = await Engine.open(load_plan(plan), record_start="test")
    try:
        assert e.state.components["storage"].stage == "testing"
        assert [p["action"] for p in e.state.open_intents.values()] == ["advance"]  # a person decides
        assert any("did not finish: reconcile it" in n for n in e.report.notes)
        flags = json.loads(e.loaded.flag_file.read_text())["flags"]
        assert flags["mdm.new_backend"]["metadata"]["percent"] == 0
    finally:
        await e.close()
