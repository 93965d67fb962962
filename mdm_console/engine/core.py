"""The Engine facade: plan + session store + projection + event subscription.

The UI and the headless CLI both drive the same Engine. It never imports Textual; every
blocking call (DuckDB, file I/O, hashing) runs on the store thread or in `to_thread`.
"""

from __future__ import annotations

import asyncio
import contextvars
import dataclasses
import functools
import hashlib
import os
import socket
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdm_console import __version__
from mdm_console.engine import events as events_mod
from mdm_console.engine.checklist import Checklist
from mdm_console.engine.gates import HealthView
from mdm_console.engine.phases import derive_phase
from mdm_console.engine.rollback import RollbackExecutor
from mdm_console.engine.rollout import RolloutControl
from mdm_console.engine.state import SessionState
from mdm_console.plan.load import LoadedPlan
from mdm_console.store.chain import Actor, Event
from mdm_console.store.errors import ChainBroken, StoreError, StoreLocked
from mdm_console.store.session import EventSpec, SessionStore, VerifyResult
from mdm_console.validators.runner import ValidationRunner

CHECKPOINT_EVERY = 20_000
CHECKPOINT_ON_CLOSE = 1_000  # a short command adds no checkpoint: replaying up to this many events is quick


POLICY = "policy:auto_rollback"  # the operator name on what the auto-rollback policy does by itself
RECOVERY = "recovery:at-start"  # the operator name on what a start does by itself (finishing a crashed rollback)
_acting: contextvars.ContextVar[Actor | None] = contextvars.ContextVar("mdm_acting", default=None)


@functools.lru_cache(maxsize=256)
def os_user_name(uid: int) -> str:
    """The account name of a uid as the system knows it (never from the environment, which anyone can set).
    Cached: the service asks for every request, on its event loop, and NSS may be a network directory."""
    import pwd

    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid:{uid}"


def resolve_actor(operator: str | None) -> Actor:
    os_user = os_user_name(os.geteuid())
    name = operator or os.environ.get("MDM_OPERATOR") or os_user
    return Actor(operator=name, os_user=os_user, host=socket.gethostname())


@dataclass
class StartupReport:
    """What the operator must be told when the session opens."""

    verify: VerifyResult | None = None
    replayed: int = 0
    from_checkpoint: int = 0
    plan_changed: tuple[str, str] | None = None  # (old sha, new sha)
    notes: list[str] = field(default_factory=list)

    @property
    def chain_ok(self) -> bool:
        return self.verify is None or self.verify.ok


class Engine:
    def __init__(self, loaded: LoadedPlan, store: SessionStore, state: SessionState, report: StartupReport):
        self.loaded = loaded
        self.plan = loaded.plan
        self.store = store
        self.state = state
        self.report = report
        self._subscribers: set[Subscription] = set()
        self._last_checkpoint = state.head_seq
        self._lock = asyncio.Lock()  # one append at a time: append + apply stay in order
        self.effects_lock = asyncio.Lock()  # one side effect (flag file, config files) at a time
        self.checklist_lock = asyncio.Lock()  # one checklist change at a time: judged and recorded as one step
        self.health: HealthView | None = None  # set by the live-health feeds when a plan has metrics
        self.clock: Callable[[], datetime] = lambda: datetime.now(UTC)
        self.rollout = RolloutControl(self)
        self.validation = ValidationRunner(self)
        self.rollback = RollbackExecutor(self)
        self.checklist = Checklist(self)

    # ---- lifecycle ----------------------------------------------------------------------
    @classmethod
    async def open(
        cls,
        loaded: LoadedPlan,
        *,
        db: Path | None = None,
        operator: str | None = None,
        read_only: bool = False,
        record_start: str | None = None,
        remove_components: tuple[str, ...] = (),
    ) -> Engine:
        """Open (or create) the session db, verify its chain and rebuild the state.

        `record_start` names the mode ("console", "cli advance", ...) recorded in a
        `session.started` event; None records nothing unless the plan changed.
        """
        actor = resolve_actor(operator)
        path = db or loaded.session_db
        store = await asyncio.to_thread(_open_store, path, actor, read_only)
        try:
            state, report = await asyncio.to_thread(_rebuild, loaded, store)
        except BaseException:
            store.close()
            raise
        engine = cls(loaded, store, state, report)
        if store.note:
            report.notes.append(store.note)
        if not report.chain_ok:
            v = report.verify
            store.seal(ChainBroken(v.bad_seq, v.reason))
            report.notes.append(f"hash chain broken at seq {v.bad_seq}: {v.reason}; nothing will be appended")
            engine._note_open_intents()
            return engine
        for problem in report.verify.checkpoint_problems if report.verify else ():
            report.notes.append(f"{problem}: not used (the state was replayed from the log instead)")
        if store.read_only:
            if state.plan_sha256 and state.plan_sha256 != loaded.sha256:
                report.plan_changed = (state.plan_sha256, loaded.sha256)
            if state.dropped:
                report.notes.append(str(DroppedComponents(state.dropped)))
            engine._note_open_intents()
            return engine
        await engine._settle_dropped(remove_components)  # before anything is written
        with engine.acting_as(RECOVERY):  # a crash's rollback is finished before anything else, by nobody's hand
            report.notes.extend(await engine.rollback.resume_interrupted())
            report.notes.extend(await engine._close_interrupted_validations())
        engine._note_open_intents()
        if state.plan_sha256 and state.plan_sha256 != loaded.sha256:
            report.plan_changed = (state.plan_sha256, loaded.sha256)
            await engine.record("plan.changed", None, {
                "old_sha256": state.plan_sha256, "new_sha256": loaded.sha256, "plan_path": str(loaded.path)})
        if report.verify and report.verify.checkpoint_problems:
            discarded = await store.acall(SessionStore.q_discard_unvouched)
            await engine.record_many([EventSpec("checkpoint.discarded", None, {"at_seq": seq, "why": why})
                                      for seq, why in discarded])
        if record_start or state.plan_sha256 is None:
            await engine.record("session.started", None, {
                "mode": record_start or "cli", "plan_path": str(loaded.path), "plan_name": loaded.plan.cutover.name,
                "plan_sha256": loaded.sha256, "demo": loaded.is_demo, "pid": os.getpid(), "version": __version__})
        return engine

    async def _close_interrupted_validations(self) -> list[str]:
        """Validation runs a crash left started: closed as interrupted (not a run of their phase), said once."""
        notes = []
        for run, v in list(self.state.validation_open.items()):
            began = datetime.fromisoformat(v["ts"])
            await self.record("validation.finished", None, {
                "run": run, "phase": v["phase"], "only": v["only"], "ok": False, "counts": {},
                "critical_failures": [], "duration_ms": round((self.now() - began).total_seconds() * 1000, 1),
                "stopped": "interrupted: the process running it ended before it finished; run it again",
                "interrupted": True})
            notes.append(f"the {v['phase']} validation run {run} (seq {v['seq']}) was interrupted by the end of the "
                         "process running it; it is closed as interrupted: run it again")
        return notes

    def _note_open_intents(self) -> None:
        for intent_id, p in self.state.open_intents.items():
            self.report.notes.append(f"intent {intent_id} ({p['action']}, seq {p['seq']}) did not finish: "
                                     "reconcile it (finish or revert) before changing anything")

    async def _settle_dropped(self, remove: tuple[str, ...]) -> None:
        """A plan that no longer has a component the log moved above 0 %: refused, unless the operator
        confirmed its removal, which takes a rollback point and records `component.removed`."""
        unconfirmed = {cid: d for cid, d in self.state.dropped.items() if cid not in remove}
        if unconfirmed:
            await asyncio.to_thread(self.store.close)
            raise DroppedComponents(unconfirmed)
        from mdm_console.engine import effects

        for cid in remove:
            d = self.state.dropped.get(cid)
            if d is None:
                continue
            point = await effects.take_point(self, f"before removing {cid}", auto=True,
                                             reason="the plan no longer has it")
            await self.record("component.removed", cid, {**d, "point": point["id"],
                                                         "reason": "confirmed by --remove-component"})

    async def close(self) -> None:
        try:
            if (not self.store.read_only and not self.store.sealed and not self.store.lost
                    and self.state.head_seq - self._last_checkpoint >= CHECKPOINT_ON_CLOSE):
                await self._checkpoint()
        except StoreError:
            pass  # a checkpoint only saves start-up time; the store's own error is already shown
        finally:
            await asyncio.to_thread(self.store.close)

    def now(self) -> datetime:
        return self.clock()

    @property
    def points_dir(self) -> Path:
        """Rollback point copies live next to the session db."""
        return self.store.path.with_name(self.store.path.stem + ".points")

    @property
    def read_only(self) -> bool:
        return self.store.read_only or self.store.sealed is not None

    # ---- events ---------------------------------------------------------------------------
    async def record(self, kind: str, component: str | None = None, payload: dict[str, Any] | None = None) -> Event:
        """Append one event, apply it to the state, and tell the subscribers."""
        return (await self.record_many([EventSpec(kind, component, payload)]))[0]

    async def record_many(self, specs: list[EventSpec]) -> list[Event]:
        if events_mod.CHECK:  # the test suite: every payload is what its kind says (engine/events.py)
            for spec in specs:
                events_mod.check(spec.kind, spec.payload or {})
        acting = _acting.get()
        if acting is not None:
            specs = [s if s.actor else dataclasses.replace(s, actor=acting) for s in specs]
        async with self._lock:
            events = await self.store.append_many(specs)
            for ev in events:
                self.state.apply(ev)
        for ev in events:
            self._publish(ev)
        if self.state.head_seq - self._last_checkpoint >= CHECKPOINT_EVERY:
            await self._checkpoint()
        return events

    @contextmanager
    def acting_as(self, operator: str):
        """Events recorded inside (in this task) name `operator` as who acted, on this OS account and host:
        what the policy does by itself is never recorded under the name of the person at the console."""
        with self.acting(dataclasses.replace(self.store.actor, operator=operator)):
            yield

    @contextmanager
    def acting(self, actor: Actor):
        """Events recorded inside (in this task and the tasks it starts) are recorded as `actor`'s: a request
        through the socket acts as the OS user the kernel names for its caller."""
        token = _acting.set(actor)
        try:
            yield
        finally:
            _acting.reset(token)

    @property
    def actor(self) -> Actor:
        """Who is acting right now: the caller of the request being served, else the session's own operator."""
        return _acting.get() or self.store.actor

    async def acknowledge(self, alert: str, note: str = "") -> Event:
        """A person clears an alert that only a person may clear (an automatic rollback's), or records, with a note,
        that they have seen one that clears by itself (it stays active until its condition ends)."""
        active = self.state.alerts.get(alert)
        if active is None:
            raise KeyError(f"no active alert '{alert}'")
        if not active.get("ack"):  # it clears by itself: acknowledging it records who has seen it, and why
            if not note.strip():
                raise ValueError(f"alert '{alert}' clears by itself when its condition ends; to record that you "
                                 "have seen it, say why (a note)")
            return await self.record("alert.acknowledged", active.get("component"), {"alert": alert,
                                                                                      "note": note.strip()})
        who = self.actor.operator
        return await self.record("alert.cleared", active.get("component"), {
            "alert": alert, "acknowledged": True, "note": note,
            "message": f"acknowledged by {who}" + (f": {note}" if note else "")})

    def _publish(self, ev: Event) -> None:
        for q in list(self._subscribers):
            try:
                q.put_nowait(ev)
            except asyncio.QueueFull:  # a consumer this far behind is dropped, never the engine's memory
                self._subscribers.discard(q)
                q.dropped = f"dropped at seq {ev.seq}: {q.maxsize} events were waiting for this reader; resume " \
                            "from the last seq read"

    @asynccontextmanager
    async def subscribe(self, limit: int = 0) -> AsyncIterator[Subscription]:
        """`async with engine.subscribe() as q: ev = await q.get()`: every event recorded from now on. With
        `limit`, a reader that falls that many events behind is dropped: `q.dropped` then says so, and no more
        events come (a client resumes from the last seq it read)."""
        q = Subscription(limit)
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)

    async def _checkpoint(self) -> None:
        """Save the state at seq S, vouched for by a `checkpoint` event at S + 1 that holds its sha256.

        Start-up uses a checkpoint only when that event (covered by the chain) matches it, so editing
        the checkpoints table can change nothing but the start-up time."""
        async with self._lock:
            seq, head_hash, text = self.state.head_seq, self.state.head_hash, self.state.to_json()
            sha = hashlib.sha256(text.encode()).hexdigest()
            events = await self.store.append_many([EventSpec("checkpoint", None, {"at_seq": seq, "state_sha256": sha})])
            for ev in events:
                self.state.apply(ev)
            self._last_checkpoint = self.state.head_seq
        for ev in events:
            self._publish(ev)
        await self.store.acall(SessionStore.q_save_checkpoint(seq, head_hash, text))

    # ---- derived views ----------------------------------------------------------------------
    @property
    def phase(self) -> str:
        return derive_phase(self.plan, self.state)

    async def verify(self, expect_head: str | None = None) -> VerifyResult:
        return await self.store.acall(SessionStore.q_verify_with(expect_head))

    async def chain_status(self) -> VerifyResult:
        """The chain's state now: the start-up verification while nothing can have been appended since."""
        if self.store.read_only and self.report.verify is not None:
            return self.report.verify
        return await self.verify()

    async def events(self, after_seq: int = 0, limit: int | None = None) -> list[Event]:
        return await self.store.acall(SessionStore.q_events(after_seq, limit))


class Subscription(asyncio.Queue):
    """The events recorded after `Engine.subscribe`; `dropped` says why no more come (its reader fell behind)."""

    def __init__(self, maxsize: int = 0):
        super().__init__(maxsize)
        self.dropped: str | None = None


class DroppedComponents(Exception):
    """The plan dropped components that are still rolled out (the CLI's exit 2, like a plan error)."""

    def __init__(self, dropped: dict[str, dict[str, Any]]):
        self.dropped = dropped
        names = ", ".join(f"'{cid}' (at {d['stage']}, {d['percent']:g} %)" for cid, d in dropped.items())
        super().__init__(f"the plan no longer has {names}: its flag would vanish from the flag file and "
                         "applications would fall back to their default. Put it back in the plan, or confirm "
                         "with --remove-component " + " --remove-component ".join(dropped))


def _open_store(path: Path, actor: Actor, read_only: bool) -> SessionStore:
    try:
        return SessionStore.open(path, actor, read_only=read_only)
    except StoreLocked as locked:
        if not read_only:
            raise
        # Read-only commands still work while the console holds the db: read a copy.
        return SessionStore.open_snapshot(path, actor, f"PID {locked.pid} ({locked.holder})")


def _rebuild(loaded: LoadedPlan, store: SessionStore) -> tuple[SessionState, StartupReport]:
    """Runs on a worker thread: verify the chain, then replay from the newest checkpoint."""
    report = StartupReport()
    verify = store.call_sync(SessionStore.q_verify_with(None, checkpoints=False))
    state, cp = None, None
    if verify.ok:  # a checkpoint is believed only when the chain vouches for it
        cp, problems = store.call_sync(SessionStore.q_vouched_checkpoint)
        verify = dataclasses.replace(verify, checkpoint_problems=tuple(problems))
    report.verify = verify
    if cp is not None:
        state = SessionState.from_json(cp[2])
        if state is not None:
            _align(state, loaded)
            report.from_checkpoint = cp[0]
    if state is None:
        state = SessionState.initial(loaded.plan)
    # A broken chain is replayed up to the event before the first bad one: what follows cannot be believed (nor,
    # an edited body, even read), and the session opens sealed, naming that seq.
    limit = None if verify.ok or verify.bad_seq is None else max(0, verify.bad_seq - 1 - state.head_seq)
    events = store.call_sync(SessionStore.q_events(state.head_seq, limit)) if limit != 0 else []
    for ev in events:
        state.apply(ev)
    report.replayed = len(events)
    return state, report


def _align(state: SessionState, loaded: LoadedPlan) -> None:
    """A checkpoint taken under an older plan: add what the plan has now, drop what it lost."""
    fresh = SessionState.initial(loaded.plan)
    for cid, comp in fresh.components.items():
        state.components.setdefault(cid, comp)
    for cid in list(state.components):
        if cid not in fresh.components:
            gone = state.components.pop(cid)
            if gone.percent > 0:
                state.dropped[cid] = {"stage": gone.stage, "percent": gone.percent}
    for iid, item in fresh.checklist.items():
        state.checklist.setdefault(iid, item)
    for iid in list(state.checklist):
        if iid not in fresh.checklist:
            del state.checklist[iid]
