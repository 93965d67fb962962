"""The DuckDB session store: append-only hash-chained events, one writer thread.

Every call that touches the connection runs on the store's own thread, so nothing blocks
the event loop and DuckDB sees one user. Appends that arrive while a transaction is being
written are batched into the next one; an append's future resolves only after COMMIT.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import queue
import shutil
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import duckdb

from mdm_console import fsguard
from mdm_console.store.chain import GENESIS, Actor, Event, event_body, event_from_body, format_ts, link, utcnow
from mdm_console.store.errors import ChainBroken, NoAccess, NotOurs, StoreError, UnsafePath, locked_from
from mdm_console.store.lock import SessionLock

APP_ID = "mdm-console"
SCHEMA_VERSION = "2"
MAX_BATCH = 10_000


def _reopen_seconds(default: float = 300.0) -> float:
    """How often the writer's connection is closed and opened again (SessionStore.reopen_due): MDM_DB_REOPEN_S
    seconds, else five minutes (benchmarks/soak.py --reopen-seconds measured that interval)."""
    try:
        seconds = float(os.environ.get("MDM_DB_REOPEN_S") or default)
    except ValueError:
        return default
    return seconds if seconds > 0 else default


REOPEN_S = _reopen_seconds()
REOPEN_TRIES = 50  # 0.1 s apart: how long a reopen waits for a DuckDB lock taken by something not ours

SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key VARCHAR PRIMARY KEY, value VARCHAR NOT NULL);
-- Only `body` (the canonical JSON that was hashed) is stored; the other columns are computed
-- from it, so they cannot be edited apart from it and the hash covers everything.
CREATE TABLE IF NOT EXISTS events (
    seq BIGINT PRIMARY KEY,
    body VARCHAR NOT NULL,
    prev_hash VARCHAR NOT NULL,
    hash VARCHAR NOT NULL,
    ts TIMESTAMP GENERATED ALWAYS AS (CAST(body->>'$.ts' AS TIMESTAMP)) VIRTUAL,   -- UTC
    kind VARCHAR GENERATED ALWAYS AS (body->>'$.kind') VIRTUAL,
    component VARCHAR GENERATED ALWAYS AS (body->>'$.component') VIRTUAL,
    operator VARCHAR GENERATED ALWAYS AS (body->>'$.operator') VIRTUAL
);
CREATE TABLE IF NOT EXISTS checkpoints (
    seq BIGINT PRIMARY KEY,
    hash VARCHAR NOT NULL,
    state VARCHAR NOT NULL,
    created TIMESTAMP NOT NULL
);
-- Metric aggregates per component, variant and 5 s: observations, not state changes, so
-- they are kept beside the chain rather than in it. One row per (start, component, variant),
-- kept so by store/metrics.py:save; no PRIMARY KEY: its index grew the process's C heap by MiBs an
-- hour of store passes (docs/benchmarks.md, RSS growth); a file from schema 2 keeps its key.
CREATE TABLE IF NOT EXISTS metrics (
    start TIMESTAMP NOT NULL,       -- UTC start of the 5 s bucket
    component VARCHAR NOT NULL,
    variant VARCHAR NOT NULL,       -- new | old | all
    ops BIGINT NOT NULL,            -- BIGINT: a 5 s bucket of a busy fleet passes 2^31 in a long window
    success BIGINT NOT NULL,
    error BIGINT NOT NULL,
    p50_ms DOUBLE,
    p95_ms DOUBLE,
    p99_ms DOUBLE,
    p99_method VARCHAR              -- sketch (±1 %) | reported
);
CREATE TABLE IF NOT EXISTS feed_positions (
    feed VARCHAR PRIMARY KEY, dev BIGINT, ino BIGINT, "offset" BIGINT, updated TIMESTAMP
);
CREATE OR REPLACE VIEW event_log AS
    SELECT seq, ts, kind, component, operator,
           body->>'$.os_user' AS os_user, body->>'$.host' AS host,
           CAST(body->'$.payload' AS JSON) AS payload, prev_hash, hash
    FROM events;
"""

# Each event joined with the one before it (a hash join: the window function this replaced sorted every
# body, 1.26 s -> 0.64 s for 1 000 000 events); seq is the primary key, and a table rebuilt without it
# is caught by the duplicate check.
VERIFY_SQL = """
SELECT seq, reason FROM (
    SELECT e.seq, CASE
        WHEN p.seq IS NULL AND e.seq <> 1 THEN 'sequence gap: events before it are missing'
        WHEN e.prev_hash <> coalesce(p.hash, $genesis) THEN 'prev_hash does not link to the event before it'
        ELSE 'hash does not match the event (edited)'
      END AS reason
    FROM events e LEFT JOIN events p ON p.seq = e.seq - 1
    WHERE sha256(e.prev_hash || e.body) <> e.hash
       OR e.prev_hash <> coalesce(p.hash, $genesis)
       OR (p.seq IS NULL AND e.seq <> 1)
    UNION ALL
    SELECT seq, 'more than one event has this seq' FROM events GROUP BY seq HAVING count(*) > 1
)
ORDER BY seq LIMIT 1
"""

CHECKPOINTS_KEPT = 3


def checkpoint_verdicts(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str | None]]:
    """(seq, None) for each checkpoint the chain vouches for, (seq, why) for the others; newest first.

    Vouched: its (seq, hash) is an event's, and the event after it is a `checkpoint` event whose payload
    names that seq and the sha256 of the stored state (the chain covers that payload). Point look-ups by
    seq (the primary key): a join would scan every event's body."""
    out = []
    for seq, hash_, state_sha in con.execute(
            "SELECT seq, hash, sha256(state) FROM checkpoints ORDER BY seq DESC").fetchall():
        why, payload = _chain_side(con, seq, hash_)
        if why is None and payload.get("state_sha256") != state_sha:
            why = "its state does not have the sha256 the chain recorded for it (edited)"
        out.append((seq, why))
    return out


def _chain_side(con: duckdb.DuckDBPyConnection, seq: int, hash_: str) -> tuple[str | None, dict]:
    """Why the chain does not vouch for a checkpoint at (seq, hash) (None: it does), and the payload of
    the `checkpoint` event that vouches for it."""
    at = con.execute("SELECT hash FROM events WHERE seq = ?", [seq]).fetchone()
    if at is None:
        return "no event has its seq", {}
    if at[0] != hash_:
        return f"its hash is not the hash of event {seq}", {}
    nxt = con.execute("SELECT body FROM events WHERE seq = ?", [seq + 1]).fetchone()
    try:
        body = json.loads(nxt[0]) if nxt else {}
        payload = body["payload"] if body.get("kind") == "checkpoint" else {}
    except (ValueError, KeyError, AttributeError, TypeError):
        payload = {}
    if not isinstance(payload, dict) or payload.get("at_seq") != seq:
        return "no checkpoint event in the chain vouches for it", {}
    return None, payload


T = TypeVar("T")

# DuckDB must never reach for the network: a file it does not know (an SQLite db, say) would make it
# download and load an extension. A session db needs none.
NO_EXTENSIONS = {"autoinstall_known_extensions": False, "autoload_known_extensions": False}


def connect(path: str, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection that installs and loads no extension."""
    return duckdb.connect(path, read_only=read_only, config=NO_EXTENSIONS)


@dataclass(frozen=True)
class VerifyResult:
    ok: bool
    events: int
    head_seq: int
    head_hash: str
    bad_seq: int | None = None
    reason: str | None = None
    partial_from: int | None = None  # an export that starts after seq 1: its beginning cannot be checked
    contains_head: bool | None = None  # whether an event has the head hash asked for (None: not asked)
    checkpoint_problems: tuple[str, ...] = ()  # checkpoints the chain does not vouch for (never used)

    def line(self) -> str:
        if self.ok:
            text = f"chain ok: {self.events} events, head seq {self.head_seq} hash {self.head_hash}"
            if self.partial_from is not None:
                text += (f" (PARTIAL: starts at seq {self.partial_from}; the events before it are not in this "
                         "file, so its link to the start of the log is not checked)")
            return text
        if self.bad_seq is None:
            return f"chain BROKEN: {self.reason}"
        return f"chain BROKEN at seq {self.bad_seq}: {self.reason}"


@dataclass(frozen=True)
class EventSpec:
    kind: str
    component: str | None = None
    payload: dict[str, Any] | None = None
    actor: Actor | None = None


@dataclass
class _Append:
    specs: list[EventSpec]
    future: Future


@dataclass
class _Call:
    fn: Callable[[duckdb.DuckDBPyConnection], Any]
    future: Future


_STOP = object()


class SessionStore:
    """Open with `SessionStore.open(path, actor)`; close with `close()`."""

    def __init__(self, path: Path, con: duckdb.DuckDBPyConnection, actor: Actor, read_only: bool, note: str | None,
                 lock: SessionLock | None = None):
        self.path = path
        self.actor = actor
        self.read_only = read_only
        self.note = note  # e.g. "read from a snapshot copy: the db is held by PID ..."
        self._con: duckdb.DuckDBPyConnection | None = con
        self._lock = lock  # ours, held until the connection is closed for good (store/lock.py)
        self._opened = time.monotonic()
        self.reopened = 0  # how often the connection was closed and opened again (reopen_due)
        self._sealed: ChainBroken | None = None
        self.lost: str | None = None  # set once the db file is found deleted or replaced (sticky)
        self.write_error: str | None = None  # the last append's failure, until an append succeeds
        try:
            st = os.stat(path) if not read_only else None
            self._identity = (st.st_dev, st.st_ino) if st else None
        except OSError:
            self._identity = None
        row = con.execute("SELECT seq, hash, ts FROM events WHERE seq = (SELECT max(seq) FROM events)").fetchone()
        self.head_seq, self.head_hash = (row[0], row[1]) if row else (0, GENESIS)
        # None when the newest body has no readable time (edited): the chain check names that event
        self._last_ts = row[2].replace(tzinfo=UTC) if row and row[2] is not None else None
        self._queue: queue.SimpleQueue = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name=f"store:{path.name}", daemon=True)
        self._thread.start()

    # ---- opening ----------------------------------------------------------------------
    @classmethod
    def open(cls, path: Path | str, actor: Actor, *, read_only: bool = False, create: bool = True) -> SessionStore:
        path = Path(path).absolute()
        if read_only and not path.exists():
            # Nothing recorded yet: read-only commands see an empty log, and nothing is created.
            con = connect(":memory:")
            _check_or_init(con, path, read_only=False)
            return cls(path, con, actor, True, f"no session db at {path} yet: nothing has been recorded")
        new = not path.exists()
        if not new:
            _sniff(path)
        if not read_only:
            why = fsguard.unsafe_directory(path)
            if why:
                raise UnsafePath(why)
            if new and create:
                path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        if new and not create:
            raise StoreError(f"session db {path} does not exist")
        lock = SessionLock.acquire(path, exclusive=not read_only)  # ours first: DuckDB's goes with each connection
        try:
            try:
                con = _connect_private(path) if new and not read_only else connect(str(path), read_only=read_only)
            except duckdb.IOException as exc:
                locked = locked_from(path, str(exc))
                if locked:
                    raise locked from None
                raise NotOurs(path, str(exc).splitlines()[0]) from None
            except duckdb.Error as exc:
                raise NotOurs(path, str(exc).splitlines()[0]) from None
            try:
                try:
                    _check_or_init(con, path, read_only)
                except duckdb.Error as exc:  # cut short or damaged: it cannot be read as a session log
                    raise StoreError(f"the session db {path} cannot be read ({type(exc).__name__}: "
                                     f"{str(exc).splitlines()[0][:300]}): it is damaged or cut short. Keep it for "
                                     "the record, restore it from a backup or an export (verify-log --from-export "
                                     "checks one), or start a new session with another --db") from None
                why = None if read_only else fsguard.loose_file(path)
                if why:  # after the check that it is ours: a file that is not is named as such first
                    raise UnsafePath(why)
            except BaseException:
                con.close()
                raise
        except BaseException:
            if lock is not None:
                lock.release()
            raise
        return cls(path, con, actor, read_only, None, lock)

    @classmethod
    def open_snapshot(cls, path: Path | str, actor: Actor, holder: str) -> SessionStore:
        """For read-only commands while another process writes: read a copy of the files."""
        path = Path(path).absolute()
        tmp = Path(tempfile.mkdtemp(prefix="mdm-snapshot-"))
        copy = tmp / path.name
        shutil.copy2(path, copy)
        wal = path.with_name(path.name + ".wal")
        if wal.exists():
            shutil.copy2(wal, copy.with_name(copy.name + ".wal"))
        # Replaying the copied WAL needs a writable open; the copy is ours alone.
        con = connect(str(copy))
        _check_or_init(con, path, read_only=True)
        note = f"the session db is held by {holder}; read from a copy taken at {utcnow():%H:%M:%S} UTC"
        store = cls(path, con, actor, True, note)
        store._tmpdir = tmp
        return store

    # ---- the writer thread ------------------------------------------------------------
    def _run(self) -> None:
        held = None
        while True:
            job = held if held is not None else self._queue.get()
            held = None
            if job is _STOP:
                break
            if isinstance(job, _Call):
                _settle(job.future, job.fn, self._con, self.lost)
                if self.reopen_due() and self._queue.empty():
                    self._reopen()
                continue
            batch = [job]
            count = len(job.specs)
            while count < MAX_BATCH:
                try:
                    nxt = self._queue.get_nowait()
                except queue.Empty:
                    break
                if isinstance(nxt, _Append):
                    batch.append(nxt)
                    count += len(nxt.specs)
                else:
                    held = nxt
                    break
            self._write(batch)
            if self.reopen_due() and self._queue.empty():
                self._reopen()
        if self._con is not None:
            self._con.close()
        if self._lock is not None:
            self._lock.release()

    def reopen_due(self) -> bool:
        """The writer's connection has been open REOPEN_S: DuckDB keeps memory for every statement its database has
        run until the database is closed (benchmarks/duckdb_heap.py), which over a day's cutover is RSS that only
        grows. It is closed and opened again between two jobs, while our own lock keeps the session ours."""
        return (self._lock is not None and self._lock.exclusive and self._con is not None and not self.lost
                and time.monotonic() - self._opened >= REOPEN_S)

    def _reopen(self) -> None:
        """Close the connection and open it again (on the writer thread, between jobs). Something outside
        mdm-console that takes DuckDB's lock in the gap (our lock keeps every mdm-console out) is waited for a
        few seconds; after that the store is lost, loudly (every write and query says why), never silently."""
        self._con.close()
        self._con = None
        problem = None
        for _ in range(REOPEN_TRIES):
            try:
                self._con = connect(str(self.path))
                break
            except duckdb.Error as exc:
                problem = " ".join(str(exc).split())[:300]
                time.sleep(0.1)
        self._opened = time.monotonic()
        if self._con is None:
            self.lost = (f"the session db {self.path} could not be opened again after {REOPEN_TRIES / 10:g} s: "
                         f"{problem}; nothing recorded from now on would be kept")
            return
        self.reopened += 1

    def file_problem(self) -> str | None:
        """Why the db file is no longer the one this store opened (deleted, replaced), or None. Sticky:
        DuckDB goes on writing to the file it holds open, so nothing written after that is kept."""
        if self._identity is None or self.lost:
            return self.lost
        try:
            st = os.stat(self.path)
        except FileNotFoundError:
            self.lost = (f"the session db {self.path} was deleted (or its directory moved) while open: "
                         "nothing recorded from now on would be kept")
        except OSError as exc:
            self.lost = f"the session db {self.path} cannot be checked: {exc.strerror or exc}"
        else:
            if (st.st_dev, st.st_ino) != self._identity:
                self.lost = (f"the session db {self.path} was replaced by another file while open: "
                             "nothing recorded from now on would be kept")
        return self.lost

    def _write(self, batch: list[_Append]) -> None:
        if self._sealed or self.read_only or self.file_problem() or self._con is None:
            err = self._sealed or (StoreError(self.lost) if self.lost else StoreError("the session db is open read-only"))
            for job in batch:
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(err)
            return
        seq, prev = self.head_seq, self.head_hash
        # One timestamp per transaction: the events of a batch are committed together.
        ts = utcnow()
        if self._last_ts is not None and ts < self._last_ts:  # the wall clock stepped back: keep order
            ts = self._last_ts
        ts_text = format_ts(ts)
        out: list[list[Event]] = []
        seqs, bodies, prevs, hashes = [], [], [], []
        for job in batch:
            events = []
            for spec in job.specs:
                seq += 1
                actor = spec.actor or self.actor
                payload = spec.payload or {}
                body = event_body(seq, ts_text, actor, spec.kind, spec.component, payload)
                h = link(prev, body)
                events.append(Event(seq, ts, actor, spec.kind, spec.component, payload, prev, h))
                seqs.append(seq)
                bodies.append(body)
                prevs.append(prev)
                hashes.append(h)
                prev = h
            out.append(events)
        try:
            self._con.execute("BEGIN TRANSACTION")
            self._con.execute(
                "INSERT INTO events (seq, body, prev_hash, hash) SELECT unnest($1), unnest($2), unnest($3), unnest($4)",
                [seqs, bodies, prevs, hashes],
            )
            self._con.execute("COMMIT")
        except Exception as exc:  # nothing of the batch is committed; the head stays
            try:
                self._con.execute("ROLLBACK")
            except duckdb.Error:
                pass
            self.write_error = _reason(exc)
            for job in batch:
                if job.future.set_running_or_notify_cancel():
                    job.future.set_exception(StoreError(f"the session log is not writable: {self.write_error}"))
            return
        self.write_error = None
        self.head_seq, self.head_hash, self._last_ts = seq, prev, ts
        for job, events in zip(batch, out):
            if job.future.set_running_or_notify_cancel():
                job.future.set_result(events)

    # ---- public API -------------------------------------------------------------------
    def submit(self, specs: list[EventSpec]) -> Future:
        fut: Future = Future()
        self._queue.put(_Append(specs, fut))
        return fut

    def append_sync(self, kind: str, component: str | None = None, payload: dict | None = None) -> Event:
        return self.submit([EventSpec(kind, component, payload)]).result()[0]

    async def append(self, kind: str, component: str | None = None, payload: dict | None = None,
                     actor: Actor | None = None) -> Event:
        return (await asyncio.wrap_future(self.submit([EventSpec(kind, component, payload, actor)])))[0]

    async def append_many(self, specs: list[EventSpec]) -> list[Event]:
        return await asyncio.wrap_future(self.submit(specs))

    def call(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> Future:
        fut: Future = Future()
        self._queue.put(_Call(fn, fut))
        return fut

    def call_sync(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return self.call(fn).result()

    async def acall(self, fn: Callable[[duckdb.DuckDBPyConnection], T]) -> T:
        return await asyncio.wrap_future(self.call(fn))

    def seal(self, broken: ChainBroken) -> None:
        """Refuse every later append: a broken chain is never appended to silently."""
        self._sealed = broken

    @property
    def sealed(self) -> ChainBroken | None:
        return self._sealed

    def close(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()
        tmp = getattr(self, "_tmpdir", None)
        if tmp:
            shutil.rmtree(tmp, ignore_errors=True)

    # ---- queries (run them through call/acall) -----------------------------------------
    @staticmethod
    def q_events(after_seq: int = 0, limit: int | None = None) -> Callable[[duckdb.DuckDBPyConnection], list[Event]]:
        def run(con: duckdb.DuckDBPyConnection) -> list[Event]:
            sql = "SELECT body, prev_hash, hash FROM events WHERE seq > ? ORDER BY seq"
            args: list[Any] = [after_seq]
            if limit is not None:
                sql += " LIMIT ?"
                args.append(limit)
            return [event_from_body(b, p, h) for b, p, h in con.execute(sql, args).fetchall()]

        return run

    @staticmethod
    def q_page(kind: str = "", component: str = "", before: int | None = None, after: int = 0,
               limit: int = 200, text: str = ""
               ) -> Callable[[duckdb.DuckDBPyConnection], tuple[list[Event], int]]:
        """Newest first: up to `limit` events with seq in (after, before), whose kind starts with `kind` (`*` a
        wildcard), whose component is `component` (empty: any) and whose body holds `text` in any case (empty:
        any); and how many match in all."""

        def run(con: duckdb.DuckDBPyConnection) -> tuple[list[Event], int]:
            where, args = ["seq > ?"], [after]
            if kind:
                where.append("kind LIKE ? ESCAPE '\\'")
                pattern = kind.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_").replace("*", "%")
                args.append(pattern if "*" in kind else pattern + "%")
            if component:
                where.append("component = ?")
                args.append(component)
            if text:
                where.append("strpos(lower(body), lower(?)) > 0")
                args.append(text)
            total = con.execute("SELECT count(*) FROM events WHERE " + " AND ".join(where), args).fetchone()[0]
            if before is not None:
                where.append("seq < ?")
                args.append(before)
            rows = con.execute("SELECT body, prev_hash, hash FROM events WHERE " + " AND ".join(where)
                               + " ORDER BY seq DESC LIMIT ?", [*args, limit]).fetchall()
            return [event_from_body(b, p, h) for b, p, h in rows], total

        return run

    @staticmethod
    def q_last_output(validator_id: str) -> Callable[[duckdb.DuckDBPyConnection], str]:
        """The output tail of a validator's newest result."""

        def run(con: duckdb.DuckDBPyConnection) -> str:
            row = con.execute("SELECT payload->>'output_tail' FROM event_log WHERE kind = 'validator.result' "
                              "AND payload->>'id' = ? ORDER BY seq DESC LIMIT 1", [validator_id]).fetchone()
            return (row[0] if row else "") or ""

        return run

    @staticmethod
    def q_verify(con: duckdb.DuckDBPyConnection) -> VerifyResult:
        return SessionStore.q_verify_with(None)(con)

    @staticmethod
    def q_verify_with(expect_head: str | None, checkpoints: bool = True
                      ) -> Callable[[duckdb.DuckDBPyConnection], VerifyResult]:
        """The chain, the checkpoints it must vouch for (unless `checkpoints` is False: start-up judges
        only the ones it reads, see `q_vouched_checkpoint`), and (if asked) whether it holds a head hash."""

        def run(con: duckdb.DuckDBPyConnection) -> VerifyResult:
            bad = con.execute(VERIFY_SQL, {"genesis": GENESIS}).fetchone()
            count, head_seq = con.execute("SELECT count(*), coalesce(max(seq), 0) FROM events").fetchone()
            row = con.execute("SELECT hash FROM events WHERE seq = ?", [head_seq]).fetchone()
            head_hash = row[0] if row else GENESIS
            if bad:
                return VerifyResult(False, count, head_seq, head_hash, bad[0], bad[1])
            verdicts = checkpoint_verdicts(con) if checkpoints else []
            problems = tuple(f"checkpoint at seq {seq}: {why}" for seq, why in verdicts if why)
            contains = None
            if expect_head is not None:
                contains = con.execute("SELECT count(*) FROM events WHERE hash = ?", [expect_head]).fetchone()[0] > 0
            return VerifyResult(True, count, head_seq, head_hash, contains_head=contains, checkpoint_problems=problems)

        return run

    @staticmethod
    def q_vouched_checkpoint(con: duckdb.DuckDBPyConnection) -> tuple[tuple[int, str, str] | None, list[str]]:
        """The newest checkpoint the chain vouches for, with its state, and what was wrong with the newer ones.

        The chain's side is checked first by point look-ups; the state is read and hashed (once, in Python)
        only for a checkpoint whose events hold: the hash of a large state is most of the cost."""
        problems = []
        for seq, hash_ in con.execute("SELECT seq, hash FROM checkpoints ORDER BY seq DESC").fetchall():
            why, payload = _chain_side(con, seq, hash_)
            if why is None:
                state = con.execute("SELECT state FROM checkpoints WHERE seq = ?", [seq]).fetchone()[0]
                if hashlib.sha256(state.encode()).hexdigest() == payload.get("state_sha256"):
                    return (seq, hash_, state), problems
                why = "its state does not have the sha256 the chain recorded for it (edited)"
            problems.append(f"checkpoint at seq {seq}: {why}")
        return None, problems

    @staticmethod
    def q_discard_unvouched(con: duckdb.DuckDBPyConnection) -> list[tuple[int, str]]:
        """Remove the checkpoints the chain does not vouch for; returns (seq, why) of each."""
        bad = [(seq, why) for seq, why in checkpoint_verdicts(con) if why]
        if bad:
            con.execute("DELETE FROM checkpoints WHERE seq IN (SELECT unnest(?))", [[seq for seq, _ in bad]])
        return bad

    @staticmethod
    def q_save_checkpoint(seq: int, hash_: str, state: str) -> Callable[[duckdb.DuckDBPyConnection], None]:
        def run(con: duckdb.DuckDBPyConnection) -> None:
            con.execute(
                "INSERT OR REPLACE INTO checkpoints VALUES (?, ?, ?, ?)",
                [seq, hash_, state, datetime.now(UTC).replace(tzinfo=None)],
            )
            # Only the newest few are ever read: older ones would make the table grow with every session.
            con.execute("DELETE FROM checkpoints WHERE seq < (SELECT min(seq) FROM "
                        f"(SELECT seq FROM checkpoints ORDER BY seq DESC LIMIT {CHECKPOINTS_KEPT}))")

        return run


def _reason(exc: BaseException) -> str:
    """What a failed write says, in one line, with the OS's reason first when there is one (ENOSPC...)."""
    text = " ".join(str(exc).split())
    for marker in ("No space left on device", "Disk quota exceeded", "Read-only file system",
                   "Permission denied", "Input/output error"):
        if marker in text:
            return f"{marker} ({text[:300]})"
    return text[:300] or type(exc).__name__


_UMASK_LOCK = threading.Lock()
_DUCKDB_MAGIC = b"DUCK"  # bytes 8..12 of every DuckDB database file


def _sniff(path: Path) -> None:
    """Refuse a file that is not a DuckDB database before DuckDB opens it (and guesses what it is)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except IsADirectoryError:
        raise NotOurs(path, "it is a directory") from None
    except PermissionError as exc:
        raise NoAccess(path, exc.strerror or str(exc)) from None
    except OSError as exc:
        raise NotOurs(path, exc.strerror or str(exc)) from None
    if head[8:12] != _DUCKDB_MAGIC:
        what = "an SQLite database" if head.startswith(b"SQLite format 3") else "not a DuckDB database file"
        raise NotOurs(path, f"it is {what}")



def _connect_private(path: Path) -> duckdb.DuckDBPyConnection:
    """Create a new db file 0600 (and its WAL): DuckDB creates them itself (it refuses an empty file
    made beforehand), so the process's umask is tightened while it does."""
    with _UMASK_LOCK:
        old = os.umask(0o077)
        try:
            con = connect(str(path))
        finally:
            os.umask(old)
    os.chmod(path, 0o600)
    return con


def _settle(fut: Future, fn: Callable, con: duckdb.DuckDBPyConnection | None, lost: str | None = None) -> None:
    if not fut.set_running_or_notify_cancel():
        return
    if con is None:
        fut.set_exception(StoreError(lost or "the session db is closed"))
        return
    try:
        fut.set_result(fn(con))
    except BaseException as exc:  # noqa: BLE001 - handed to the caller
        fut.set_exception(exc)


def _check_or_init(con: duckdb.DuckDBPyConnection, path: Path, read_only: bool) -> None:
    tables = {r[0] for r in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    if not tables:
        if read_only:
            raise NotOurs(path, "it is empty")
        con.execute(SCHEMA)
        con.execute("INSERT INTO meta VALUES ('app', ?), ('schema', ?), ('created', ?)",
                    [APP_ID, SCHEMA_VERSION, utcnow().isoformat()])
        return
    if "meta" not in tables or "events" not in tables:
        raise NotOurs(path, "it has tables " + ", ".join(sorted(tables)[:5]) + " but no mdm-console schema")
    meta = dict(con.execute("SELECT key, value FROM meta").fetchall())
    if meta.get("app") != APP_ID:
        raise NotOurs(path, f"its meta says app={meta.get('app')!r}")
    if meta.get("schema") != SCHEMA_VERSION:
        raise NotOurs(path, f"its schema version is {meta.get('schema')}; this mdm-console reads version {SCHEMA_VERSION}")
    if "metrics" in tables and not read_only:
        narrow = [c for c, t in con.execute(
            "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = 'metrics'"
            " AND column_name IN ('ops', 'success', 'error')").fetchall() if t != "BIGINT"]
        for column in narrow:  # a file from before the counts were 64-bit
            con.execute(f"ALTER TABLE metrics ALTER COLUMN {column} TYPE BIGINT")
    if "metrics" not in tables:
        # A file from before the metrics tables: add them (empty, as temp tables when read-only).
        ddl = SCHEMA[SCHEMA.index("CREATE TABLE IF NOT EXISTS metrics"):SCHEMA.index("CREATE OR REPLACE VIEW")]
        con.execute(ddl.replace("CREATE TABLE", "CREATE TEMP TABLE") if read_only else ddl)
