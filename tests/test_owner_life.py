"""Every client knows where it stands: deadlines on every request, plain words when the owner stops or dies, a
socket deleted under `serve` made again, and commands that tell "owner unreachable" from "no owner"."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from mdm_console.api import models as m
from mdm_console.api.ops import OpFailed
from mdm_console.api.server import ApiServer
from mdm_console.client.remote import ServiceClient
from tests.conftest import run_cli
from tests.test_service import serving, two_users  # noqa: F401 - `two_users` is a fixture

SLOW = '''
[[validators]]
id = "slow"
kind = "command"
params = { argv = ["sleep", "30"] }
'''


@pytest.fixture
def stopped():
    """SIGSTOP a process for the block; SIGCONT it after, whatever happens."""
    held = []

    def stop(proc):
        proc.send_signal(signal.SIGSTOP)
        held.append(proc)

    yield stop
    for proc in held:
        if proc.poll() is None:
            proc.send_signal(signal.SIGCONT)


def test_a_stopped_owner_gets_a_deadline_and_a_request_it_reads_late_is_never_carried_out(plan_file, stopped):
    db = plan_file.parent / "state" / "session.duckdb"
    with serving(plan_file) as s:

        async def late_advance():
            async with await ServiceClient.connect(db, timeout=2) as client:  # the owner answered its hello
                stopped(s.proc)
                with pytest.raises(OpFailed) as failed:
                    await client.call("advance", m.AdvanceRequest(component="storage", override="late"))
                return failed.value

        failed = asyncio.run(late_advance())
        assert failed.code == 1
        assert f"the session's owner (serve PID {s.proc.pid}, OS user" in failed.message
        assert "has not answered for 2 s" in failed.message and "it will never carry it out" in failed.message
        r = run_cli("status", "--timeout", "2", "--plan", str(plan_file), timeout=30)
        assert r.returncode == 1 and "has not answered for 2 s" in r.stderr and "nothing was done" in r.stderr
        assert "Traceback" not in r.stderr
        s.proc.send_signal(signal.SIGCONT)
        # The late request is read at once on resume (answered 408), or dropped with its closed connection:
        # either way never carried out. A request after it shows the owner is serving again.
        r = run_cli("note", "a", "after the resume", "--plan", str(plan_file))
        assert r.returncode == 0, r.stderr
        s.wait_for(lambda x: x.get("msg") == "request" and x.get("op") == "item")
        assert not [x for x in s.seen if x.get("op") == "advance" and x.get("status") != 408]
        r = run_cli("status", "--json", "--plan", str(plan_file))
        assert r.returncode == 0 and '"stage": "testing"' in r.stdout


def test_a_deleted_socket_is_made_again_and_commands_work_within_seconds(plan_file):
    db = plan_file.parent / "state" / "session.duckdb"
    sock = db.with_name("session.duckdb.sock")
    with serving(plan_file) as s:
        sock.unlink()  # a cleanup of the directory, a hand
        r = run_cli("advance", "storage", "--override", "after the socket went", "--plan", str(plan_file))
        assert r.returncode == 0, r.stderr  # not exit 3 "held by ... stop that process"
        again = s.wait_for(lambda x: x.get("msg") == "socket made again")
        assert again["why"] == "the socket file was deleted or replaced"
        assert sock.is_socket()


def test_an_owner_killed_mid_request_is_said_in_words_not_as_a_library_error(plan_file):
    plan_file.write_text(plan_file.read_text() + SLOW)
    with serving(plan_file) as s:
        cli = subprocess.Popen([sys.executable, "-m", "mdm_console", "validate", "--plan", str(plan_file)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        # cfg's result is in; `slow` (30 s) is still running: the answer is under way when the owner dies.
        s.wait_for(lambda x: x.get("msg") == "event" and x.get("kind") == "validator.result")
        s.proc.kill()
        s.proc.wait(10)
        out, err = cli.communicate(timeout=30)
    assert cli.returncode == 1
    assert f"the session's owner (serve PID {s.proc.pid}, OS user" in err and "ended unexpectedly" in err, err
    assert "it must be restarted by OS user" in err
    assert "ClientPayloadError" not in err and "Traceback" not in err and "unexpected error" not in err
    # Nothing holds the session now: commands open it themselves (no "held by", no hang).
    r = run_cli("status", "--plan", str(plan_file))
    assert r.returncode == 0, r.stderr


async def test_a_console_follows_a_restarted_owner_again_from_the_last_seq_with_no_gap_or_duplicate(tmp_path):
    from mdm_console.client.session import AttachedSession
    from mdm_console.ui.app import ConsoleApp
    from tests.test_attached import served, stop
    from tests.ui_helpers import open_engine, until

    e, mon, server = await served(tmp_path, min_stage=0)
    session = await AttachedSession.open(e.store.path, operator="Ann")
    app = ConsoleApp(session=session, keymap={})
    seen: list[int] = []
    async with session.subscribe() as q, app.run_test(size=(150, 45), notifications=True) as pilot:
        await stop(e, mon, server)  # the owner ends
        await until(pilot, lambda: session.gone is not None, timeout=10)
        assert "following it again as soon as an owner serves the session" in session.gone
        assert not session.can_take_over or "Take the session over" in app.banner_lines()[0]
        e = await open_engine(tmp_path)  # a restart: the same session db, the same plan
        await e.rollout.advance("storage", reason="while no console followed")  # recorded while nobody followed
        server = ApiServer(e)
        await server.start()
        await until(pilot, lambda: session.gone is None, timeout=10)
        await until(pilot, lambda: session.state.head_seq == e.state.head_seq, timeout=10)
        assert session.state.components["storage"].stage == "canary"  # the truth, not the stale view
        await e.checklist.note("pre.backup", "after the restart")  # and live events go on
        await until(pilot, lambda: session.state.head_seq == e.state.head_seq, timeout=10)
        while not q.empty():
            seen.append(q.get_nowait().seq)
        await until(pilot, lambda: any(n.title == "the session's owner is back" for n in app._notifications))
        assert session.followed_again == 1
    await session.close()
    await server.stop()
    await e.close()
    assert seen == sorted(set(seen)) and seen[-1] == e.state.head_seq  # in order, none twice
    assert seen == list(range(seen[0], seen[-1] + 1))  # and none missing


def test_log_follow_follows_a_restarted_serve_and_says_non_zero_when_its_owner_died(plan_file):
    import json
    import queue
    import threading

    lines: queue.Queue[str] = queue.Queue()

    def line_of(proc) -> dict:
        try:
            raw = lines.get(timeout=30)  # a reader thread: select() cannot see lines already in the pipe's buffer
        except queue.Empty:
            proc.kill()
            raise AssertionError(f"no followed event within 30 s: {proc.communicate()[1]}") from None
        assert raw, f"log --follow ended: {proc.stderr.read()}"
        return json.loads(raw)

    with serving(plan_file) as s:
        follow = subprocess.Popen([sys.executable, "-m", "mdm_console", "log", "--follow", "--jsonl", "--kind",
                                   "checklist.note", "--since", "0", "--wait-owner", "20", "--plan", str(plan_file)],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=lambda: [lines.put(x) for x in iter(follow.stdout.readline, "")] + [lines.put("")],
                         daemon=True).start()
        try:
            s.wait_for(lambda x: x.get("msg") == "stream opened")  # it follows live events now
            assert run_cli("note", "a", "one", "--plan", str(plan_file)).returncode == 0
            assert line_of(follow)["payload"]["text"] == "one"
            s.proc.kill()  # the owner dies
            s.proc.wait(10)
            assert run_cli("note", "a", "two (nobody serving)", "--plan", str(plan_file)).returncode == 0
            with serving(plan_file):  # restarted
                assert run_cli("note", "a", "three", "--plan", str(plan_file)).returncode == 0
                texts = [line_of(follow)["payload"]["text"] for _ in range(2)]
                assert texts == ["two (nobody serving)", "three"]  # no gap, no duplicate
        finally:
            follow.terminate()
            _, err = follow.communicate(timeout=30)
    assert "ended unexpectedly" in err and "following again: serve PID" in err, err
    assert "Traceback" not in err and "ClientPayloadError" not in err
    # With nothing to come back, the death of the owner is a non-zero exit.
    with serving(plan_file) as s:
        follow = subprocess.Popen([sys.executable, "-m", "mdm_console", "log", "--follow", "--wait-owner", "0",
                                   "--plan", str(plan_file)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        s.wait_for(lambda x: x.get("msg") == "stream opened")
        s.proc.kill()
        s.proc.wait(10)
        _, err = follow.communicate(timeout=30)
    assert follow.returncode == 1 and "ended unexpectedly" in err, err


def test_a_headless_owner_says_each_condition_once_when_it_starts_and_when_it_ends(tmp_path):
    from datetime import UTC, datetime

    from tests.test_live import plan_text

    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(plan_text(tmp_path, mode="off"))  # a JSONL feed whose file nobody writes yet
    with serving(plan) as s:
        stale = s.wait_for(lambda x: x.get("msg") == "condition" and x.get("what") == "feed stale")
        assert stale["level"] == "error" and "no data since" in stale["detail"]
        assert stale["refused"] == "the gates and the policy judge no new figures" and stale["since"]
        (tmp_path / "metrics").mkdir(exist_ok=True)
        now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
        with open(tmp_path / "metrics" / "ops.jsonl", "a") as fh:
            for _ in range(5):
                fh.write(f'{{"ts": "{now}", "component": "storage", "outcome": "success", "latency_ms": 3}}\n')
        cleared = s.wait_for(lambda x: x.get("msg") == "condition cleared" and x.get("what") == "feed stale")
        assert cleared["since"] == stale["since"]
    said = [x for x in s.seen if x.get("msg") == "condition" and x.get("what") == "feed stale"]
    assert len(said) == 1  # at change, not once a second while it lasted


async def test_a_reader_too_far_behind_is_dropped_saying_so_and_resumes_from_its_seq(plan_file):
    from mdm_console.store.session import EventSpec
    from tests.test_service import served_here

    async with served_here(plan_file) as (e, server):
        server.stream_backlog = 3
        async with await ServiceClient.connect(e.store.path) as client:
            head, seen, dropped = e.state.head_seq, [], []

            async def read(after):
                async for line in client.events(after):
                    if line.event is not None:
                        seen.append(line.event.seq)
                        if line.event.seq == head:
                            await e.record_many([EventSpec("checklist.note", None, {"item": "a", "text": f"n{i}"})
                                                 for i in range(50)])  # one burst, faster than any reader
                    if line.dropped:
                        dropped.append(line.dropped)
                        return
                    if seen and seen[-1] == head + 50:
                        return

            await asyncio.wait_for(read(head - 1), 10)
            assert len(dropped) == 1 and "3 events were waiting for this reader" in dropped[0]
            assert "resume from the last seq read" in dropped[0]
            await asyncio.wait_for(read(seen[-1]), 10)  # resumed: the rest, none twice, none missing
            assert seen == list(range(head, head + 51))


async def test_connections_past_the_cap_are_refused_and_said_once(plan_file):
    import aiohttp

    from tests.test_service import served_here

    async with served_here(plan_file) as (e, server):
        said = []
        server.log = lambda level, msg, **kw: said.append((msg, kw))
        server.max_connections = 3
        sessions = [aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(server.socket_path)))
                    for _ in range(6)]
        try:
            statuses = []
            for http in sessions:  # each keeps its connection open (keep-alive)
                async with http.get("http://mdm-console/v1/hello") as resp:
                    statuses.append((resp.status, await resp.text()))
            assert [s for s, _ in statuses] == [200, 200, 200, 503, 503, 503]
            assert "connections are open, the most this owner serves" in statuses[3][1]
            refusing = [kw for msg, kw in said if msg == "refusing"]
            assert len(refusing) == 1 and refusing[0]["what"] == "connections"  # one line, not one per refusal
        finally:
            for http in sessions:
                await http.close()


def test_smaller_faults_are_said_plainly(plan_file, tmp_path):
    """An interrupted validation run is closed at the next start; verify-log on no db is no "chain ok"; a db cut
    short is said in words, not as a library error."""
    plan_file.write_text(plan_file.read_text() + SLOW)
    with serving(plan_file) as s:
        cli = subprocess.Popen([sys.executable, "-m", "mdm_console", "validate", "--plan", str(plan_file)],
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        s.wait_for(lambda x: x.get("msg") == "event" and x.get("kind") == "validator.result")
        s.proc.kill()
        s.proc.wait(10)
        cli.wait(30)
    r = run_cli("log", "--kind", "validation.finished", "--jsonl", "--plan", str(plan_file))
    assert r.returncode == 0 and r.stdout == ""  # nothing closed it yet: a read-only look changes nothing
    r = run_cli("note", "a", "after the crash", "--plan", str(plan_file))  # the next writer's start closes it
    assert r.returncode == 0 and "validation run" in r.stderr and "interrupted" in r.stderr, r.stderr
    r = run_cli("log", "--kind", "validation.finished", "--jsonl", "--plan", str(plan_file))
    import json

    done = json.loads(r.stdout.splitlines()[-1])
    assert done["payload"]["interrupted"] is True and done["payload"]["stopped"].startswith("interrupted")

    db = plan_file.parent / "state" / "session.duckdb"
    copy = tmp_path / "cut.duckdb"
    data = db.read_bytes()
    copy.write_bytes(data[: len(data) // 2])
    os.chmod(copy, 0o600)
    r = run_cli("status", "--db", str(copy), "--plan", str(plan_file))
    assert r.returncode == 1 and "is damaged or cut short" in r.stderr and "unexpected error" not in r.stderr, r.stderr
    r = run_cli("verify-log", "--db", str(tmp_path / "gone.duckdb"), "--plan", str(plan_file))
    assert r.returncode == 1 and "no session db at" in r.stderr and "chain ok" not in r.stdout


def test_another_users_session_with_no_owner_running_is_said_as_such(two_users):
    import tempfile

    from tests.conftest import BASE_PLAN
    from tests.test_service import run_as

    (a, _, _), _ = two_users
    root = Path(tempfile.mkdtemp(prefix="mdm-noowner-"))  # reachable by the throwaway user
    try:
        os.chmod(root, 0o755)
        (root / "config").mkdir()
        (root / "config" / "app.toml").write_text('[app]\nname = "x"\n')
        plan = root / "mdm-plan.toml"
        plan.write_text(BASE_PLAN)
        assert run_cli("note", "a", "root's session", "--plan", str(plan)).returncode == 0  # the db is root's, 0600
        r = run_as(a, "status", "--plan", str(plan))
        assert r.returncode == 1, r.stderr
        assert f"belongs to OS user root and OS user {a} may not open it" in r.stderr
        assert "Ask root to start `mdm-console serve`" in r.stderr
        assert "is not an mdm-console session db" not in r.stderr
    finally:
        shutil.rmtree(root, ignore_errors=True)


async def test_streams_past_their_cap_are_refused_and_a_persons_request_still_finds_room(plan_file):
    from tests.test_service import served_here

    async with served_here(plan_file) as (e, server):
        server.max_streams = 2
        clients = [await ServiceClient.connect(e.store.path) for _ in range(3)]
        held: list[asyncio.Task] = []
        try:
            async def stall(c):
                async for _ in c.events(0):
                    await asyncio.sleep(3600)  # reads one line, then never again

            held = [asyncio.create_task(stall(c)) for c in clients[:2]]
            while server.open_streams < 2:
                await asyncio.sleep(0.01)
            with pytest.raises(OpFailed, match="2 event streams are open, the most this owner serves"):
                async for _ in clients[2].events(0):
                    pass
            async with await ServiceClient.connect(e.store.path) as person:
                r = await person.call("item", m.ItemRequest(action="note", item="a", text="room for me"))
            assert r.id == "a"
        finally:
            for t in held:
                t.cancel()
            for c in clients:
                await c.close()


FAKE = r"""
import os, socket, sys
path, log, inherited = sys.argv[1], sys.argv[2], int(sys.argv[3])
if inherited:
    s = socket.socket(fileno=inherited)  # bound by root, listened on by us: the kernel names us as its listener
else:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    os.chmod(path, 0o777)
s.listen(8)
body = b'{"service":"mdm-console","api":1,"version":"x","mode":"serve","pid":1,"os_user":"root","session_db":"x",' \
       b'"plan_path":"x","plan_name":"x","plan_sha256":"x","demo":false,"head_seq":999,"you":{"may":["observe"]}}'
open(log, "w").close()
print("ready", flush=True)
while True:
    c, _ = s.accept()
    data = c.recv(65536)
    with open(log, "ab") as fh:
        fh.write(data)
    c.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
    c.close()
"""


def test_only_the_real_owner_is_talked_to_a_squatter_gets_nothing(two_users):
    """A kill -9 of serve, then another OS user listens where its socket was (a runtime directory it made first, or
    a socket it listens on in our name): commands send it nothing, say why, and open the session themselves."""
    import pwd
    import tempfile

    from mdm_console.api import paths
    from tests.conftest import BASE_PLAN

    if not os.path.exists("/usr/bin/python3"):
        pytest.skip("the squatter runs Debian's /usr/bin/python3 (the test's interpreter is root's)")
    (mallory, _, _), _ = two_users
    pw = pwd.getpwnam(mallory)
    top = Path(tempfile.mkdtemp(prefix="mdm-squat-"))
    try:
        os.chmod(top, 0o755)
        tmpdir = top / "tmp"
        tmpdir.mkdir()
        os.chmod(tmpdir, 0o1777)  # a /tmp of its own: the fallback runtime directory goes in it
        deep = top / ("d" * 60) / ("e" * 60)  # too long for a socket beside the db
        (deep / "config").mkdir(parents=True)
        (deep / "config" / "app.toml").write_text('[app]\nname = "x"\n')
        plan = deep / "mdm-plan.toml"
        plan.write_text(BASE_PLAN)
        env = {**os.environ, "TMPDIR": str(tmpdir)}
        env.pop("XDG_RUNTIME_DIR", None)
        db = deep / "state" / "session.duckdb"
        s = subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan", str(plan)], env=env,
                             stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
        from tests.test_service import Served

        served = Served(s)
        served.wait_for(lambda x: x.get("msg") == "serving")
        sock = paths.locate(db)
        assert sock is not None and str(sock).startswith(str(tmpdir))
        s.kill()
        s.wait(10)
        shutil.rmtree(sock.parent)  # a clean of the temporary directory

        log = top / "captured"
        for inherited in (False, True):
            fds, pass_fds = None, ()
            if inherited:  # root's directory and socket file, but the listening process is Mallory's
                sock.parent.mkdir(mode=0o700, exist_ok=True)
                bound = __import__("socket").socket(__import__("socket").AF_UNIX)
                bound.bind(str(sock))
                fds = bound
                pass_fds = (bound.fileno(),)
            log.touch()
            os.chown(log, pw.pw_uid, pw.pw_gid)

            def drop(uid=pw.pw_uid, gid=pw.pw_gid):
                os.setgroups([])
                os.setgid(gid)
                os.setuid(uid)

            fd = str(fds.fileno() if fds else 0)
            fake = subprocess.Popen(["/usr/bin/python3", "-c", FAKE, str(sock), str(log), fd],
                                    preexec_fn=drop, pass_fds=pass_fds or (), stdout=subprocess.PIPE, text=True,
                                    cwd="/")
            try:
                assert fake.stdout.readline().strip() == "ready"
                r = subprocess.run([sys.executable, "-m", "mdm_console", "status", "--plan", str(plan)], env=env,
                                   capture_output=True, text=True, timeout=60)
                assert r.returncode == 0, r.stderr  # opened here: nothing else holds the session
                assert "storage" in r.stdout and "999" not in r.stdout  # the truth, not the squatter's answer
                why = (f"listening on {sock} is OS user {mallory}" if inherited
                       else f"the socket {sock} belongs to uid {pw.pw_uid}")
                assert f"warning: refusing to talk to {sock}" in r.stderr and why in r.stderr, r.stderr
                captured = log.read_bytes()
                assert b"POST" not in captured and b"GET" not in captured and b"tester" not in captured
            finally:
                fake.kill()
                fake.wait(10)
                if fds is not None:
                    fds.close()
                shutil.rmtree(sock.parent, ignore_errors=True)
    finally:
        shutil.rmtree(top, ignore_errors=True)


def test_a_runtime_directory_another_user_made_first_is_named_not_fatal(two_users):
    import pwd
    import tempfile

    from mdm_console.api import paths
    from tests.conftest import BASE_PLAN
    from tests.test_service import Served

    (mallory, _, _), _ = two_users
    pw = pwd.getpwnam(mallory)
    top = Path(tempfile.mkdtemp(prefix="mdm-squatdir-"))
    try:
        tmpdir = top / "tmp"
        tmpdir.mkdir()
        os.chmod(tmpdir, 0o1777)
        deep = top / ("d" * 60) / ("e" * 60)
        (deep / "config").mkdir(parents=True)
        (deep / "config" / "app.toml").write_text('[app]\nname = "x"\n')
        plan = deep / "mdm-plan.toml"
        plan.write_text(BASE_PLAN)
        squatted = tmpdir / f"mdm-console-{os.geteuid()}"
        squatted.mkdir()
        os.chown(squatted, pw.pw_uid, pw.pw_gid)  # made first by another user
        env = {**os.environ, "TMPDIR": str(tmpdir)}
        env.pop("XDG_RUNTIME_DIR", None)
        s = Served(subprocess.Popen([sys.executable, "-m", "mdm_console", "serve", "--plan", str(plan)], env=env,
                                    stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True))
        try:
            named = s.wait_for(lambda x: x.get("msg") == "runtime directory not ours")
            assert str(squatted) in named["refused"] and named["using"] != str(squatted)
            s.wait_for(lambda x: x.get("msg") == "serving")
            sock = paths.locate(deep / "state" / "session.duckdb")
            assert sock is not None and sock.parent != squatted and sock.parent.stat().st_uid == os.geteuid()
            r = subprocess.run([sys.executable, "-m", "mdm_console", "note", "a", "through the new directory",
                                "--plan", str(plan)], env=env, capture_output=True, text=True, timeout=60)
            assert r.returncode == 0 and "warning" not in r.stderr, r.stderr
            s.wait_for(lambda x: x.get("msg") == "request" and x.get("op") == "item")
        finally:
            s.proc.terminate()
            s.proc.wait(30)
        assert not sock.parent.exists()  # its own directory goes with it
    finally:
        shutil.rmtree(top, ignore_errors=True)


async def test_secrets_stay_with_the_owner_and_non_readers_learn_nothing(plan_file):
    from tests.test_service import ACCESS, ME, served_here

    metrics = '\n[metrics]\nsource = "prometheus"\nurl = "http://scraper:s3cret-pass@127.0.0.1:9/metrics"\n'
    async with served_here(plan_file, ACCESS.format(me=ME) + metrics, stranger=True) as (e, server):  # an observer
        async with await ServiceClient.connect(e.store.path) as client:
            plan = await client.call("plan", m.PlanRequest())
        assert "s3cret-pass" not in plan.model_dump_json() and "scraper:***@127.0.0.1" in plan.plan["metrics"]["url"]
    nobody = '[access]\nobserve = ["group:no-such-group-here"]\n'
    async with served_here(plan_file, nobody, stranger=True) as (e, server):
        from mdm_console.client.remote import NoService

        with pytest.raises(NoService) as refused:
            await ServiceClient.connect(e.store.path)
        assert "may not read this session" in str(refused.value)
        import aiohttp

        async with aiohttp.ClientSession(connector=aiohttp.UnixConnector(path=str(server.socket_path))) as http:
            for route in ("/v1/hello", "/v1/schema"):
                async with http.get("http://mdm-console" + route) as resp:
                    body = await resp.text()
                assert resp.status == 403 and str(e.store.path) not in body and "Test cutover" not in body
        assert not [ev for ev in await e.events() if ev.kind == "access.refused"]  # said in the log, not recorded


async def test_a_request_read_after_its_deadline_is_refused_and_never_carried_out(plan_file):
    import time

    from tests.test_service import served_here

    async with served_here(plan_file) as (e, server):
        async with await ServiceClient.connect(e.store.path) as client:
            late = m.AdvanceRequest(component="storage", override="late", deadline=time.time() - 1)
            with pytest.raises(OpFailed, match="reached the owner .* after its deadline .*nothing was done"):
                await client.send("advance", late)  # as a stopped owner reads it on resume
        assert e.state.components["storage"].stage == "testing"


async def test_a_flood_of_refusals_is_one_event_saying_how_many(plan_file):
    from tests.test_service import ACCESS, ME, served_here

    async with served_here(plan_file, ACCESS.format(me=ME), stranger=True) as (e, server):  # may only observe
        async with await ServiceClient.connect(e.store.path, operator="M" * 5000) as client:
            for _ in range(50):
                with pytest.raises(OpFailed, match="may not change stages"):
                    await client.call("advance", m.AdvanceRequest(component="storage", override="let me"))
        refused = [ev for ev in await e.events() if ev.kind == "access.refused"]
        assert len(refused) == 1 and refused[0].payload["refused_since"] == 0  # not 50 events
        assert len(refused[0].actor.operator) <= 200  # the caller's text cut
        server.refusal_every = 0.0  # as if a minute had passed
        async with await ServiceClient.connect(e.store.path) as client:
            with pytest.raises(OpFailed):
                await client.call("advance", m.AdvanceRequest(component="storage", override="again"))
        refused = [ev for ev in await e.events() if ev.kind == "access.refused"]
        assert len(refused) == 2 and refused[1].payload["refused_since"] == 49
