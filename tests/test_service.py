"""The session as a local service: `serve` as a real subprocess, its Unix socket, the CLI as its client, identity
from the kernel (SO_PEERCRED), the plan's [access], the event stream, and the safety net with no console."""

from __future__ import annotations

import asyncio
import json
import os
import queue
import shutil
import signal
import stat
import subprocess
import sys
import threading
import time
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path

import pytest

from mdm_console.api import models as m
from mdm_console.api.ops import OpFailed
from mdm_console.api.server import ApiServer
from mdm_console.client.remote import ServiceClient
from mdm_console.engine.core import Engine, os_user_name
from mdm_console.plan.load import load_plan
from tests.conftest import BASE_PLAN, run_cli

ME = os_user_name(os.geteuid())


class Served:
    """A running `mdm-console serve`: its process and its JSON log lines."""

    def __init__(self, proc: subprocess.Popen):
        self.proc = proc
        self.lines: queue.Queue[dict] = queue.Queue()
        self.seen: list[dict] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        for raw in self.proc.stderr:
            try:
                self.lines.put(json.loads(raw))
            except ValueError:
                self.lines.put({"msg": "not json", "raw": raw})

    def wait_for(self, pred, timeout: float = 60) -> dict:
        for line in self.seen:
            if pred(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no such log line within {timeout} s; saw: {self.seen[-5:]}")
            try:
                line = self.lines.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(line)
            if pred(line):
                return line


@contextmanager
def serving(plan: Path, *extra: str):
    proc = subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan", str(plan), *extra],
                            stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    s = Served(proc)
    try:
        s.wait_for(lambda x: x.get("msg") == "serving")
        yield s
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(10)


async def events_of(plan: Path) -> list:
    e = await Engine.open(load_plan(plan), read_only=True)
    try:
        return await e.events()
    finally:
        await e.close()


def test_cli_commands_go_through_a_running_service_as_the_caller(plan_file):
    db = plan_file.parent / "state" / "session.duckdb"
    with serving(plan_file) as s:
        sock = db.with_name("session.duckdb.sock")
        assert stat.S_IMODE(sock.stat().st_mode) == 0o600 and stat.S_ISSOCK(sock.stat().st_mode)
        r = run_cli("advance", "storage", "--override", "drill through the socket", "--plan", str(plan_file),
                    env={"MDM_OPERATOR": "Alice"})
        assert r.returncode == 0, r.stderr  # not exit 3: the service holds the db and takes the request
        assert "storage: testing -> canary (5 %)" in r.stdout and "gates overridden" in r.stdout
        r = run_cli("validate", "--plan", str(plan_file))
        assert r.returncode == 0 and "ok     cfg" in r.stdout and "preflight: 1 passed" in r.stdout, r.stdout
        r = run_cli("complete", "a", "--plan", str(plan_file))
        assert r.returncode == 0 and "a: completed" in r.stdout
        r = run_cli("signoff", "--role", "Ops", "--name", "Olga", "--plan", str(plan_file))
        assert r.returncode == 0 and f"(OS user {ME})" in r.stdout, r.stderr
        status = json.loads(run_cli("status", "--json", "--plan", str(plan_file)).stdout)
        assert status["components"][0]["stage"] == "canary"
        served = s.wait_for(lambda x: x.get("msg") == "request" and x.get("op") == "signoff")
        assert served["uid"] == os.geteuid() and served["status"] == 200
        s.proc.send_signal(signal.SIGTERM)
        assert s.proc.wait(30) == 0
        s.wait_for(lambda x: x.get("msg") == "stopped")
    assert not sock.exists()  # removed at a clean stop
    events = asyncio.run(events_of(plan_file))
    override = next(ev for ev in events if ev.kind == "gate.override")
    assert (override.actor.operator, override.actor.os_user) == ("Alice", ME)
    started = [ev.payload["mode"] for ev in events if ev.kind == "session.started"]
    assert started == ["serve"]  # the CLI commands opened nothing themselves


def test_a_service_killed_hard_leaves_a_socket_that_fools_nobody(plan_file):
    with serving(plan_file) as s:
        s.proc.kill()
        s.proc.wait(10)
    sock = plan_file.parent / "state" / "session.duckdb.sock"
    assert sock.exists()  # nobody removed it
    r = run_cli("status", "--plan", str(plan_file))
    assert r.returncode == 0 and "Test cutover" in r.stdout, r.stderr  # opened the session itself
    with serving(plan_file):  # the next owner replaces the dead one's socket
        r = run_cli("advance", "storage", "--override", "after a crash", "--plan", str(plan_file))
        assert r.returncode == 0, r.stderr


def test_a_db_held_by_something_else_is_still_exit_3(plan_file):
    from tests.conftest import holding

    with holding(plan_file) as holder:
        r = run_cli("advance", "storage", "--plan", str(plan_file))
    assert r.returncode == 3 and f"PID {holder.pid}" in r.stderr


ACCESS = """
[access]
observe = ["user:{me}"]
operate = ["group:no-such-group-here"]
"""


async def open_served(plan_file: Path, extra: str = "", *, stranger: bool = False):
    plan_file.write_text(BASE_PLAN + extra)
    e = await Engine.open(load_plan(plan_file), record_start="test")
    await e.rollout.ensure_flag_file()
    server = ApiServer(e)
    if stranger:
        server.owner_uid = -1  # this test process is not the session's owner: [access] applies to it
    await server.start()
    return e, server


@asynccontextmanager
async def served_here(plan_file: Path, extra: str = "", *, stranger: bool = False):
    """`open_served` for the length of a block: the engine and its API server, stopped and closed after."""
    e, server = await open_served(plan_file, extra, stranger=stranger)
    try:
        yield e, server
    finally:
        await server.stop()
        await e.close()


async def test_access_refuses_what_the_plan_does_not_allow_and_records_it(plan_file):
    e, server = await open_served(plan_file, ACCESS.format(me=ME), stranger=True)
    try:
        async with await ServiceClient.connect(e.store.path, operator="Mallory") as client:
            assert client.hello.you["os_user"] == ME and client.hello.you["may"] == ["observe"]
            status = await client.call("status", m.StatusRequest())
            assert status.status["components"][0]["stage"] == "testing"  # reading is allowed
            with pytest.raises(OpFailed) as refused:
                await client.call("advance", m.AdvanceRequest(component="storage", override="let me"))
            assert refused.value.code == 1
            assert f"{ME} may not change stages" in refused.value.message
            with pytest.raises(OpFailed, match="may not sign 'Ops'"):
                await client.call("signoff", m.SignoffRequest(role="Ops", name="Mallory"))
        assert e.state.components["storage"].stage == "testing"
        refusals = [ev for ev in await e.events() if ev.kind == "access.refused"]
        assert [ev.payload["action"] for ev in refusals] == ["advance", "signoff"]
        assert refusals[0].actor.os_user == ME and refusals[0].actor.operator == "Mallory"
        assert refusals[0].payload["pid"] == os.getpid() and refusals[0].payload["uid"] == os.geteuid()
    finally:
        await server.stop()
        await e.close()


async def test_the_typed_name_is_recorded_beside_the_os_user_the_kernel_names(plan_file):
    e, server = await open_served(plan_file)
    try:
        async with await ServiceClient.connect(e.store.path, operator="root\x1b[2J (claims root)") as client:
            await client.call("item", m.ItemRequest(action="note", item="a", text="hello"))
        ev = (await e.events())[-1]
        assert ev.kind == "checklist.note" and ev.actor.os_user == ME
        assert "\x1b" not in ev.actor.operator and "claims root" in ev.actor.operator
    finally:
        await server.stop()
        await e.close()


async def test_the_event_stream_catches_up_then_follows_and_a_reconnect_misses_nothing(plan_file):
    e, server = await open_served(plan_file)
    try:
        head = e.state.head_seq
        async with await ServiceClient.connect(e.store.path) as client:
            seen: list[int] = []

            async def read(after: int, until: int) -> None:
                async for line in client.events(after):
                    if line.event is not None:
                        seen.append(line.event.seq)
                        if line.event.seq >= until:
                            return

            await asyncio.wait_for(read(0, head), 10)
            assert seen == list(range(1, head + 1))  # the catch-up, in order
            task = asyncio.create_task(read(head, head + 2))
            await e.checklist.note("a", "one")  # live, while the stream is open
            await e.checklist.note("a", "two")
            await asyncio.wait_for(task, 10)
            assert seen[head:] == [head + 1, head + 2]
            # Disconnected: two more events happen; reconnecting with the last seq seen gets exactly those.
            await e.checklist.note("a", "three")
            await e.checklist.note("a", "four")
            await asyncio.wait_for(read(head + 2, head + 4), 10)
            assert seen[head + 2:] == [head + 3, head + 4]
    finally:
        await server.stop()
        await e.close()


async def test_validate_streams_each_result_as_it_finishes(plan_file):
    extra = '''
[[validators]]
id = "slow"
kind = "command"
params = { argv = ["python3", "-c", "import time; time.sleep(1.5)"] }
'''
    e, server = await open_served(plan_file, extra)
    try:
        async with await ServiceClient.connect(e.store.path) as client:
            got: list[tuple[str, bool]] = []

            def progress(r):
                got.append((r["id"], "slow" in e.validation.running))

            summary = await client.call("validate", m.ValidateRequest(), progress)
        assert [i for i, _ in got] == ["cfg", "slow"]
        assert got[0][1] is True  # cfg's line arrived while `slow` was still running
        assert summary.counts == {"passed": 2} and summary.ok
    finally:
        await server.stop()
        await e.close()


async def test_a_db_path_too_long_for_a_socket_serves_from_the_runtime_dir_with_a_pointer(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    (deep / "config").mkdir()
    (deep / "config" / "app.toml").write_text('[app]\nname = "x"\n')
    plan = deep / "mdm-plan.toml"
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    e, server = await open_served(plan)
    try:
        assert server.socket_path.parent == tmp_path / "mdm-console"
        pointer = e.store.path.with_name("session.duckdb.sock.path")
        assert pointer.read_text().strip() == str(server.socket_path)
        r = await asyncio.to_thread(run_cli, "status", "--json", "--plan", str(plan),
                                    env={"XDG_RUNTIME_DIR": str(tmp_path)})
        assert r.returncode == 0 and server.requests == 1, r.stderr  # answered by the service
    finally:
        await server.stop()
        await e.close()
    assert not pointer.exists()


async def test_cli_writes_reach_a_running_console_through_its_socket(plan_file):
    """The console owns the session (engine embedded) and serves the socket: CLI advance, validate and signoff
    are accepted (exit 0), not refused with exit 3."""
    import argparse

    from mdm_console.cli.owner import Owner

    plan_file.write_text(BASE_PLAN + "\n[access]\none_os_user_for_rehearsal = true\n")
    owner = Owner()
    engine, _ = await owner.open(argparse.Namespace(plan=str(plan_file), theme=None, metrics_port=None), None)
    try:
        await owner.serving  # the console's socket comes up right behind its first figures
        assert owner.server is not None
        for args in (("advance", "storage", "--override", "from the CLI"), ("validate",), ("complete", "a"),
                     ("signoff", "--role", "Ops", "--name", "Olga")):
            r = await asyncio.to_thread(run_cli, *args, "--plan", str(plan_file))
            assert r.returncode == 0, (args, r.stderr)
        assert engine.state.components["storage"].stage == "canary"
        assert engine.state.signoffs["Ops"].name == "Olga"
    finally:
        await owner.close()


def test_the_schema_document_in_docs_is_the_one_the_service_serves():
    from mdm_console.api.schema import document

    path = Path(__file__).parent.parent / "docs" / "api-schema.json"
    assert json.loads(path.read_text()) == json.loads(json.dumps(document())), \
        "docs/api-schema.json is out of date: python -m mdm_console.api.schema > docs/api-schema.json"


# ---- two OS users (needs root to create them) ----------------------------------------------------------------------
@pytest.fixture
def two_users():
    if os.geteuid() != 0:
        pytest.skip("creating throwaway OS users needs root")
    if not shutil.which("useradd"):
        pytest.skip("no useradd on this machine")
    tag = f"{os.getpid() % 10000:04d}"
    users, group = [f"mdmt{tag}a", f"mdmt{tag}b", f"mdmt{tag}c"], f"mdmt{tag}g"
    subprocess.run(["groupadd", group], check=True)
    try:
        for u in users:
            subprocess.run(["useradd", "-M", "-N", "-g", group, "-s", "/usr/sbin/nologin", u], check=True)
        yield users, group
    finally:
        for u in users:
            subprocess.run(["userdel", u], check=False, capture_output=True)
        subprocess.run(["groupdel", group], check=False, capture_output=True)


def run_as(user: str, *args: str) -> subprocess.CompletedProcess:
    """The CLI as another OS user (tests/as_user.py drops to it after loading what root alone can read)."""
    env = {k: v for k, v in os.environ.items() if k not in ("MDM_STATE_DIR",)}
    env.update(HOME="/tmp", MDM_OPERATOR="", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "tests.as_user", user, *args], env=env, capture_output=True,
                          text=True, timeout=60, cwd=Path(__file__).parent.parent)


def test_two_os_users_sign_two_roles_and_the_kernel_tells_them_apart(tmp_path, two_users):
    (a, b, stranger), group = two_users
    root = Path(__import__("tempfile").mkdtemp(prefix="mdm-svc-"))  # reachable by the throwaway users
    try:
        os.chmod(root, 0o755)
        (root / "config").mkdir()
        (root / "config" / "app.toml").write_text('[app]\nname = "x"\n')
        plan = root / "mdm-plan.toml"
        plan.write_text(BASE_PLAN.replace('requires_roles = ["Ops"]', 'requires_roles = []') + f"""
[access]
group = "{group}"
complete = ["user:{a}"]
sign = {{ "Ops" = ["user:{a}", "user:{b}"], "Final Approval" = ["user:{a}", "user:{b}"] }}
observe = ["user:{stranger}"]
""")
        with serving(plan) as s:
            sock = root / "state" / "session.duckdb.sock"
            assert stat.S_IMODE(sock.stat().st_mode) == 0o660
            r = run_as(a, "complete", "a", "--plan", str(plan))
            assert r.returncode == 0, r.stderr
            r = run_as(a, "signoff", "--role", "Ops", "--name", "Ann", "--plan", str(plan))
            assert r.returncode == 0 and f"(OS user {a})" in r.stdout, r.stderr
            # The same OS user under another typed name: refused for a second role.
            r = run_as(a, "signoff", "--role", "Final Approval", "--name", "Bob", "--plan", str(plan))
            assert r.returncode == 1 and f"OS user {a} already signed 'Ops'" in r.stderr, r.stderr
            r = run_as(b, "signoff", "--role", "Final Approval", "--name", "Bob", "--plan", str(plan))
            assert r.returncode == 0 and f"(OS user {b})" in r.stdout, r.stderr
            # Outside the access list for writing: refused, and the refusal is in the log.
            r = run_as(stranger, "complete", "b", "--plan", str(plan))
            assert r.returncode == 1 and f"{stranger} may not change checklist items" in r.stderr, r.stderr
            r = run_as(stranger, "status", "--json", "--plan", str(plan))
            assert r.returncode == 0 and json.loads(r.stdout)["signoffs"][1]["name"] == "Bob"
            s.wait_for(lambda x: x.get("msg") == "refused" and x.get("user") == stranger)
        events = asyncio.run(events_of(plan))
        signed = [(ev.payload["role"], ev.actor.os_user, ev.payload["name"]) for ev in events
                  if ev.kind == "signoff.recorded"]
        assert signed == [("Ops", a, "Ann"), ("Final Approval", b, "Bob")]
        refused = [ev for ev in events if ev.kind == "access.refused"]
        assert [(ev.actor.os_user, ev.payload["action"]) for ev in refused] == [(stranger, "item")]
        assert [ev.actor.os_user for ev in events if ev.kind == "signoff.refused"] == [a]
    finally:
        shutil.rmtree(root, ignore_errors=True)


# ---- the safety net outlives every terminal ------------------------------------------------------------------------
def policy_plan(tmp_path: Path) -> Path:
    """A plan with a JSONL feed and the auto-rollback policy in `auto` (for_seconds 2)."""
    from tests.test_live import plan_text

    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="auto", for_seconds=2))
    return plan


def fault_is_rolled_back_by_the_policy(s: Served, plan: Path) -> None:
    """The demo workload fails half the new path's operations; a canary goes out through the socket; the service's
    auto-rollback policy (nobody else) puts the flag back to 0 %."""
    flags = plan.parent / "state" / "flags.json"
    workload = subprocess.Popen([sys.executable, "-m", "mdm_console", "demo-workload", "--flags", str(flags),
                                 "--metrics", str(plan.parent / "metrics" / "ops.jsonl"), "--rate", "600",
                                 "--fault", "storage:0.5", "--seed", "1"])
    try:
        r = run_cli("advance", "storage", "--override", "fault drill", "--plan", str(plan))
        assert r.returncode == 0, r.stderr
        assert json.loads(flags.read_text())["flags"]["mdm.new_backend"]["metadata"]["percent"] == 5
        done = s.wait_for(lambda x: x.get("msg") == "event" and x.get("kind") == "rollback.finished", 60)
        assert done["operator"] == "policy:auto_rollback"
    finally:
        workload.terminate()
        workload.wait(10)
    assert json.loads(flags.read_text())["flags"]["mdm.new_backend"]["metadata"]["percent"] == 0


def test_auto_rollback_acts_with_no_console_attached(tmp_path):
    plan = policy_plan(tmp_path)
    with serving(plan) as s:
        fault_is_rolled_back_by_the_policy(s, plan)


def test_log_prints_events_in_words_filters_them_and_follows_a_service(plan_file):
    r = run_cli("advance", "storage", "--override", "drill [red]x[/red]", "--reason", "first wave",
                "--plan", str(plan_file), env={"MDM_OPERATOR": "Alice"})
    assert r.returncode == 0, r.stderr
    r = run_cli("log", "--kind", "stage.", "--details", "--plan", str(plan_file))
    assert r.returncode == 0, r.stderr
    assert "stage.changed" in r.stdout and "storage testing -> canary (0 % -> 5 %)" in r.stdout
    assert "reason: first wave" in r.stdout and "override: drill [red]x[/red]" in r.stdout
    assert "gate: FAIL stage_time" in r.stdout and "typed name: Alice" in r.stdout and f"OS user: {ME}" in r.stdout
    assert "intent" not in r.stdout.split()  # the kind filter
    doc = json.loads(run_cli("log", "--grep", "FIRST WAVE", "--json", "--plan", str(plan_file)).stdout)
    assert doc["total"] == len(doc["events"]) >= 2
    assert all("first wave" in json.dumps(ev).lower() for ev in doc["events"])
    every = json.loads(run_cli("log", "--json", "--limit", "0", "--plan", str(plan_file)).stdout)["events"]
    seqs = [ev["seq"] for ev in every]
    assert seqs == sorted(seqs) and seqs[0] == 1  # oldest first, all of them
    since = run_cli("log", "--since", str(seqs[-3]), "--jsonl", "--plan", str(plan_file)).stdout.splitlines()
    assert [json.loads(x)["seq"] for x in since] == seqs[-2:]
    bad = run_cli("log", "--follow", "--json", "--plan", str(plan_file))
    assert bad.returncode == 2 and "--jsonl" in bad.stderr  # a usage error
    nobody = run_cli("log", "--follow", "--plan", str(plan_file))
    assert nobody.returncode == 1 and "nothing holds this session" in nobody.stderr
    with serving(plan_file):
        follow = subprocess.Popen([sys.executable, "-m", "mdm_console", "log", "--follow", "--jsonl", "--kind",
                                   "checklist.", "--limit", "1", "--plan", str(plan_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            r = run_cli("note", "a", "noted while followed", "--plan", str(plan_file))
            assert r.returncode == 0, r.stderr
            run_cli("advance", "api", "--override", "not a checklist event", "--plan", str(plan_file))
            import select

            assert select.select([follow.stdout], [], [], 30)[0], "no followed event within 30 s"
            line = json.loads(follow.stdout.readline())
            assert line["kind"] == "checklist.note" and line["payload"]["text"] == "noted while followed"
        finally:
            follow.terminate()
            follow.wait(10)
