"""The DuckDB session store on a real file: append, replay, tamper detection."""

from __future__ import annotations

import asyncio
import hashlib

import duckdb
import pytest

from mdm_console.store.chain import GENESIS, Actor
from mdm_console.store.errors import NotOurs, StoreError
from mdm_console.store.session import EventSpec, SessionStore

ACTOR = Actor("alice", "alice-os", "host-1")


@pytest.fixture
def db(tmp_path):
    return tmp_path / "session.duckdb"


def test_append_links_each_event_to_the_previous_one(db):
    store = SessionStore.open(db, ACTOR)
    a = store.append_sync("note", "storage", {"text": "first"})
    b = store.append_sync("note", None, {"text": "second", "n": 2.5})
    store.close()
    assert (a.seq, b.seq) == (1, 2)
    assert a.prev_hash == GENESIS and b.prev_hash == a.hash
    assert b.hash == hashlib.sha256((a.hash + b.body()).encode()).hexdigest()


def test_events_survive_reopen_with_actor_and_payload(db):
    store = SessionStore.open(db, ACTOR)
    store.append_sync("note", "storage", {"text": "ünïcode <b>"})
    store.close()
    store = SessionStore.open(db, Actor("bob", "b", "h"), read_only=True)
    [ev] = store.call_sync(SessionStore.q_events())
    store.close()
    assert ev.actor == ACTOR and ev.payload == {"text": "ünïcode <b>"} and ev.component == "storage"


def test_concurrent_appends_are_batched_in_order_and_verify(db):
    store = SessionStore.open(db, ACTOR)

    async def burst():
        return await asyncio.gather(*(store.append("note", None, {"i": i}) for i in range(500)))

    events = asyncio.run(burst())
    result = store.call_sync(SessionStore.q_verify)
    store.close()
    assert sorted(e.seq for e in events) == list(range(1, 501))
    assert result.ok and result.events == 500 and result.head_hash == max(events, key=lambda e: e.seq).hash


@pytest.mark.parametrize("edit,reason", [
    ("UPDATE events SET body = replace(body, '\"i\":3', '\"i\":4') WHERE seq = 4", "hash does not match"),
    ("UPDATE events SET body = replace(body, '\"operator\":\"alice\"', '\"operator\":\"mallory\"')"
     " WHERE seq = 4", "hash does not match"),
    ("UPDATE events SET prev_hash = hash WHERE seq = 4", "prev_hash does not link"),
    ("DELETE FROM events WHERE seq = 4", "sequence gap"),
])
def test_tampering_through_a_second_connection_is_named(db, edit, reason):
    store = SessionStore.open(db, ACTOR)
    store.submit([EventSpec("note", None, {"i": i}) for i in range(10)]).result()
    store.close()
    con = duckdb.connect(str(db))
    con.execute(edit)
    con.close()
    store = SessionStore.open(db, ACTOR, read_only=True)
    result = store.call_sync(SessionStore.q_verify)
    store.close()
    assert not result.ok
    expected_seq = 5 if "DELETE" in edit else 4
    assert result.bad_seq == expected_seq and reason in result.reason


def test_a_second_event_with_the_same_seq_is_named(db):
    """A table rebuilt without its primary key can hold a copied event twice: still not a valid chain."""
    from mdm_console.store.session import SCHEMA

    store = SessionStore.open(db, ACTOR)
    store.submit([EventSpec("note", None, {"i": i}) for i in range(10)]).result()
    store.close()
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE old AS SELECT seq, body, prev_hash, hash FROM events")
    con.execute("DROP VIEW IF EXISTS event_log")
    con.execute("DROP TABLE events")
    con.execute(SCHEMA.replace("seq BIGINT PRIMARY KEY,\n    body", "seq BIGINT,\n    body", 1))
    con.execute("INSERT INTO events (seq, body, prev_hash, hash) SELECT * FROM old")
    con.execute("INSERT INTO events (seq, body, prev_hash, hash) SELECT * FROM old WHERE seq = 10")
    con.close()
    store = SessionStore.open(db, ACTOR, read_only=True)
    result = store.call_sync(SessionStore.q_verify)
    store.close()
    assert not result.ok and result.bad_seq == 10 and "more than one event" in result.reason


def test_sealed_store_refuses_appends(db):
    from mdm_console.store.errors import ChainBroken

    store = SessionStore.open(db, ACTOR)
    store.seal(ChainBroken(3, "edited"))
    with pytest.raises(ChainBroken):
        store.append_sync("note")
    store.close()


def test_a_foreign_duckdb_file_is_not_ours(db):
    con = duckdb.connect(str(db))
    con.execute("CREATE TABLE customers (id INT)")
    con.close()
    with pytest.raises(NotOurs, match="customers"):
        SessionStore.open(db, ACTOR)


def test_a_file_that_is_not_duckdb_is_not_ours(db):
    db.write_text("hello, this is a text file")
    with pytest.raises(StoreError):
        SessionStore.open(db, ACTOR)
    assert db.read_text() == "hello, this is a text file"


def test_new_db_is_private(db):
    SessionStore.open(db, ACTOR).close()
    assert db.stat().st_mode & 0o077 == 0


from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(seq=st.integers(1, 2**62), kind=st.text(min_size=1), component=st.none() | st.text(),
       names=st.tuples(st.text(), st.text(), st.text()),
       payload=st.dictionaries(st.text(max_size=10), json_values, max_size=5))
def test_fast_event_body_is_the_canonical_json(seq, kind, component, names, payload):
    from datetime import UTC, datetime

    from mdm_console.store.chain import canonical, event_body, event_from_body

    actor = Actor(*names)
    ts = datetime(2026, 11, 23, 1, 2, 3, 456789, tzinfo=UTC)
    body = event_body(seq, ts, actor, kind, component, payload)
    assert body == canonical({"seq": seq, "ts": "2026-11-23T01:02:03.456789Z", "operator": actor.operator,
                              "os_user": actor.os_user, "host": actor.host, "kind": kind,
                              "component": component, "payload": payload})
    back = event_from_body(body, GENESIS, "h")
    assert (back.seq, back.ts, back.actor, back.kind, back.component, back.payload) == (
        seq, ts, actor, kind, component, payload)


def test_the_queryable_columns_come_from_the_hashed_body(db):
    store = SessionStore.open(db, ACTOR)
    store.append_sync("stage.changed", "storage", {"to": "canary"})
    store.close()
    con = duckdb.connect(str(db))
    with pytest.raises(duckdb.BinderException):
        con.execute("UPDATE events SET kind = 'forged' WHERE seq = 1")
    row = con.execute("SELECT kind, component, operator, os_user, host, payload->>'to' FROM event_log").fetchone()
    con.close()
    assert row == ("stage.changed", "storage", "alice", "alice-os", "host-1", "canary")


def test_a_bucket_stored_again_keeps_one_row_with_its_latest_counts(tmp_path):
    """The metrics table has no key index (it grew the process); save() still keeps one row per bucket."""
    from datetime import datetime

    from mdm_console.store import metrics
    from mdm_console.store.session import SCHEMA

    con = duckdb.connect(str(tmp_path / "m.duckdb"))
    con.execute(SCHEMA)
    t = datetime(2026, 1, 1)
    row = (t, "storage", "new", 3, 3, 0, 1.0, 2.0, 3.0, "sketch (±1 %)")
    metrics.save([row, (t, "storage", "old", 1, 1, 0, None, None, None, None)], [("jsonl", 1, 2, 10)])(con)
    metrics.save([(t, "storage", "new", 5, 4, 1, 1.0, 2.0, 9.0, "sketch (±1 %)")], [("jsonl", 1, 2, 20)])(con)
    assert con.execute("SELECT variant, ops, error, p99_ms FROM metrics ORDER BY variant").fetchall() == [
        ("new", 5, 1, 9.0), ("old", 1, 0, None)]
    assert metrics.positions(con) == {"jsonl": (1, 2, 20)}


_OTHER_WRITER = """
import sys
from mdm_console.store.chain import Actor
from mdm_console.store.errors import StoreLocked
from mdm_console.store.session import SessionStore
try:
    SessionStore.open(sys.argv[1], Actor("mallory", "m", "h")).close()
except StoreLocked as exc:
    print("LOCKED", exc.pid, exc)
else:
    print("OPENED")
"""


def test_the_session_stays_ours_while_its_connection_is_closed(db):
    """The writer closes and reopens its DuckDB connection now and then (DuckDB's lock goes with it); our own lock
    keeps a second writer out in that gap, naming the writer's PID, and leaves no PID behind once released."""
    import os
    import subprocess
    import sys

    from mdm_console.store.lock import lock_path

    store = SessionStore.open(db, ACTOR)
    store.append_sync("note", None, {"text": "mine"})
    store.call_sync(lambda con: con.close())  # as in a reopen's gap: DuckDB's lock is gone, ours is not
    out = subprocess.run([sys.executable, "-c", _OTHER_WRITER, str(db)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.startswith(f"LOCKED {os.getpid()} ") and "is held by" in out
    store.close()
    assert lock_path(db).read_text() == ""  # released: no PID left to be mistaken for a holder
    out = subprocess.run([sys.executable, "-c", _OTHER_WRITER, str(db)], capture_output=True, text=True,
                         timeout=60).stdout
    assert out.strip() == "OPENED"


def test_the_writer_reopens_its_connection_and_loses_nothing(db, monkeypatch):
    from mdm_console.store import session as session_mod

    monkeypatch.setattr(session_mod, "REOPEN_S", 0.0)  # after every job
    store = SessionStore.open(db, ACTOR)
    for i in range(20):
        store.append_sync("note", None, {"i": i})
        assert len(store.call_sync(SessionStore.q_events())) == i + 1
    assert store.reopened >= 20
    result = store.call_sync(SessionStore.q_verify)
    store.close()
    assert result.ok and result.events == 20


def test_a_reopen_that_cannot_take_the_db_back_says_so_on_every_write(db, monkeypatch):
    """Something outside mdm-console took DuckDB's lock in the gap and kept it: the store is lost, loudly."""
    from mdm_console.store import session as session_mod

    store = SessionStore.open(db, ACTOR)
    store.append_sync("note", None, {"i": 0})
    monkeypatch.setattr(session_mod, "REOPEN_S", 0.0)
    monkeypatch.setattr(session_mod, "REOPEN_TRIES", 2)

    def refused(path, read_only=False):
        raise duckdb.IOException('Could not set lock on file "x": Conflicting lock is held in duckdb (PID 1)')

    monkeypatch.setattr(session_mod, "connect", refused)
    store.call_sync(SessionStore.q_events())  # a job: the reopen follows it, and fails
    with pytest.raises(StoreError, match="could not be opened again"):
        store.append_sync("note", None, {"i": 1})
    with pytest.raises(StoreError, match="could not be opened again"):
        store.call_sync(SessionStore.q_events())
    assert "could not be opened again" in store.file_problem()
    store.close()


@pytest.mark.parametrize("content", [b"my notes\n", b"12345678901234567890\n"])
def test_a_lock_file_that_is_not_ours_is_refused_and_left_as_it_is(db, content):
    from mdm_console.store.lock import lock_path

    lock_path(db).write_bytes(content)
    with pytest.raises(NotOurs, match="holds something other than a PID"):
        SessionStore.open(db, ACTOR)
    assert lock_path(db).read_bytes() == content and not db.exists()


def test_a_lock_file_that_is_a_symlink_is_not_followed(db, tmp_path):
    from mdm_console.store.errors import UnsafePath
    from mdm_console.store.lock import lock_path

    target = tmp_path / "elsewhere"
    target.write_text("someone's file")
    lock_path(db).symlink_to(target)
    with pytest.raises(UnsafePath, match="lock file"):
        SessionStore.open(db, ACTOR)
    assert target.read_text() == "someone's file"
