"""The one interface the console talks to, the same whether the engine runs in this process or in the service.

A `Session` holds the plan, a `SessionState` kept current by applying the events it receives with the state's own
`apply` handlers, and the latest health figures; it reads (checklist views, phase, gates, window figures) and it
asks (`call`: an `api.ops` operation). It never hands out engine objects and runs no SQL.

- `EmbeddedSession`: this process owns the session (the console started the engine); its state is the engine's.
- `AttachedSession`: a service owns it; this console follows its event stream and health snapshots over the
  socket, and every action is a request recorded as this OS user. `observe=True` is read-only.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import time
from collections.abc import AsyncIterator, Hashable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mdm_console.api import models as m
from mdm_console.api.ops import OPS, refusals, require_writable
from mdm_console.exits import EXIT_FAILED, OpFailed
from mdm_console.feeds.windows import BUCKET_SECONDS  # noqa: F401 - the plots' bucket, for the console

GONE_AFTER_S = 2.0  # a service silent this long (it sends health every second) is said to be gone


class Session:
    mode = "embedded"

    def __init__(self, loaded, state, actor):
        from mdm_console.engine.checklist import Checklist

        self.loaded = loaded
        self.plan = loaded.plan
        self.state = state
        self.actor = actor
        self.checklist = Checklist(self)  # its views read plan and state; every change goes through call()
        self.notes: list[str] = []
        self.plan_changed: tuple[str, str] | None = None
        self._subscribers: set[asyncio.Queue] = set()

    # ---- what every console reads ---------------------------------------------------------------------------
    @property
    def observe(self) -> bool:
        return self.mode == "observe"

    @property
    def owner(self) -> bool:
        """This process runs the session's engine (quitting it stops the safety net)."""
        return self.mode == "embedded"

    def now(self) -> datetime:
        return datetime.now(UTC)

    @property
    def phase(self) -> str:
        from mdm_console.engine.phases import derive_phase

        return derive_phase(self.plan, self.state)

    def next_stage(self, component: str) -> tuple[str, float] | None:
        idx = self.plan.stage_index(self.state.components[component].stage)
        if idx + 1 >= len(self.plan.stages):
            return None
        s = self.plan.stages[idx + 1]
        return s.name, s.percent

    def described(self) -> str:
        from mdm_console.textsafe import visible

        return f"operator {visible(self.actor.operator, one_line=True)}"

    @staticmethod
    def export_formats() -> tuple[str, ...]:
        from mdm_console.export.run import FORMATS

        return FORMATS

    @staticmethod
    def validator_batches(validators):
        """The validators grouped into the batches they run in, in the order they run."""
        from mdm_console.validators.runner import batches

        return batches(validators)

    @property
    def gone(self) -> str | None:
        """Why the session can no longer be followed (its service ended), or None."""
        return None

    can_take_over = False  # this OS user could run the session here once its owner has gone (AttachedSession)

    def figures_key(self) -> Hashable:
        """Equal for two reads only if no component's `stats` or `verdict` can differ between them, so a screen
        that drew every component can tell that none changed without asking each one (the dashboard at 400
        components: benchmarks/scale.py). None: not known, ask."""
        return None

    # ---- events ----------------------------------------------------------------------------------------------
    def _publish(self, ev) -> None:
        for q in list(self._subscribers):
            q.put_nowait(ev)

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue]:
        q: asyncio.Queue = asyncio.Queue()
        self._subscribers.add(q)
        try:
            yield q
        finally:
            self._subscribers.discard(q)

    # ---- asking ----------------------------------------------------------------------------------------------
    async def call(self, name: str, req: m.Request, on_progress=None) -> m.Body:
        raise NotImplementedError

    async def close(self) -> None:
        pass


class EmbeddedSession(Session):
    """The engine runs in this process (the console owns the session and serves its socket for others)."""

    mode = "embedded"

    def __init__(self, engine, monitor=None):
        super().__init__(engine.loaded, engine.state, engine.store.actor)
        self._engine = engine
        self._monitor = monitor
        self.notes = engine.report.notes
        self.plan_changed = engine.report.plan_changed

    @property
    def live(self) -> bool:
        return self._monitor is not None and self.plan.metrics.source != "none"

    def now(self) -> datetime:
        return self._engine.now()

    def gates(self, component: str):
        return self._engine.rollout.gates(component)

    def stats(self, component: str):
        return self._monitor.stats(component)

    def figures_key(self) -> Hashable:
        key = getattr(self._monitor, "figures_key", None)  # a health view that cannot say: None, ask each component
        return key() if key is not None else None

    def verdict(self, component: str):
        return self._monitor.verdict(component) if self._monitor is not None else None

    def feed_status(self):
        feed = getattr(self._monitor, "feed", None)
        return feed.status if feed is not None else None

    def host(self):
        system = getattr(self._monitor, "system", None)
        return (system.latest, system.status.interval) if system is not None and system.latest else None

    def unknown_ops(self) -> int:
        return self._monitor.windows.unknown_ops if self._monitor is not None else 0

    def store_status(self) -> dict[str, Any]:
        s = self._engine.store
        return {"lost": s.lost, "write_error": s.write_error, "sealed": s.sealed is not None}

    @property
    def running_validators(self) -> set[str]:
        return set(self._engine.validation.running)

    @property
    def auto_rollback_on(self) -> bool:
        return self.plan.alerts.auto_rollback.mode != "off"

    @asynccontextmanager
    async def subscribe(self) -> AsyncIterator[asyncio.Queue]:
        async with self._engine.subscribe() as q:
            yield q

    async def call(self, name: str, req: m.Request, on_progress=None) -> m.Body:
        op = OPS[name]
        if op.writes(req):
            require_writable(self._engine)
        try:
            return await op.fn(self._engine, req, on_progress)
        except refusals() as exc:  # the engine's "no" that an operation did not word itself
            raise OpFailed(EXIT_FAILED, str(exc)) from None

    async def series(self, component: str):
        from mdm_console.api.health import series

        return series(self._monitor, component, self.now()) if self._monitor is not None else {}

    async def export(self, fmt: str, path: Path, *, force: bool = False):
        from mdm_console.export.run import export_session

        return await export_session(self._engine, fmt, path, force=force)

    @property
    def default_export_dir(self) -> Path:
        return self._engine.store.path.parent


@dataclass
class FeedView:
    """A feed's status as the service last reported it (the shape of FeedStatus that screens read)."""

    name: str
    interval: float
    good: int
    bad: int
    error: str | None
    last_bad: str
    last_bad_reason: str
    age_s: float | None
    stale: str | None
    at: float

    def age(self, now: float | None = None) -> float | None:
        if self.age_s is None:
            return None
        return self.age_s + max(0.0, (time.time() if now is None else now) - self.at)

    def stale_reason(self, now: float | None = None) -> str | None:
        return self.stale


class AttachedSession(Session):
    """A service owns the session: this console follows it over the socket."""

    def __init__(self, client, loaded, state, actor, *, observe: bool = False):
        super().__init__(loaded, state, actor)
        self.mode = "observe" if observe else "attached"
        self.client = client
        self.hello = client.hello
        self._health: dict[str, Any] = {}
        self._heard = time.monotonic()
        self._ended: str | None = None
        self._running: set[str] = set()
        self._cache: dict[tuple, Any] = {}
        self._health_seq = 0  # health documents heard so far: the figures change only with one (figures_key)
        self._task: asyncio.Task | None = None
        self.db: Path | None = None  # the session db, to find a restarted owner's socket
        self.operator: str | None = None
        self.followed_again = 0  # times the stream came back after its owner ended (a restart)

    @classmethod
    async def open(cls, db: Path, *, operator: str | None = None, observe: bool = False) -> AttachedSession:
        """Attach to the service that owns `db` (NoService when none does)."""
        from mdm_console.client.remote import ServiceClient
        from mdm_console.engine.state import SessionState
        from mdm_console.plan.load import LoadedPlan
        from mdm_console.plan.models import Plan
        from mdm_console.store.chain import Actor

        client = await ServiceClient.connect(db, operator=operator)
        try:
            p = await client.call("plan", m.PlanRequest())
            loaded = LoadedPlan(Plan.model_validate(p.plan), Path(p.path), p.sha256, p.demo)
            snap = await client.call("state", m.StateRequest())
            state = SessionState.from_json(snap.state) or SessionState.initial(loaded.plan)
        except BaseException:
            await client.close()
            raise
        you = client.hello.you
        actor = Actor(operator=operator or you["os_user"], os_user=you["os_user"], host=socket.gethostname())
        session = cls(client, loaded, state, actor, observe=observe)
        session.db, session.operator = db, operator
        session._task = asyncio.create_task(session._follow())
        return session

    def described(self) -> str:
        from mdm_console.textsafe import visible

        h = self.hello
        what = "observing (read-only)" if self.observe else "attached to"
        return (f"{what} {h.mode} PID {h.pid} as OS user {visible(h.you['os_user'], one_line=True)} · "
                f"operator {visible(self.actor.operator, one_line=True)}")

    @property
    def owner_pid(self) -> int:
        return self.hello.pid

    async def _follow(self) -> None:
        """Follow the owner's events and health; when it ends, wait for a restarted owner of the same session and
        plan and follow it again from the last seq seen (no gap, no duplicate), saying so."""
        while True:
            why = await self._stream()
            self._ended = f"{why}; following it again as soon as an owner serves the session once more"
            if not await self._reattach():
                return

    async def _stream(self) -> str:
        from mdm_console.api.models import event_of

        try:
            async for line in self.client.events(self.state.head_seq, health=True):
                self._heard = time.monotonic()
                if line.event is not None:
                    ev = event_of(line.event)
                    if ev.seq <= self.state.head_seq:
                        continue
                    self.state.apply(ev)
                    if ev.kind == "validator.started":
                        self._running.add(ev.payload.get("id"))
                    elif ev.kind == "validator.result":
                        self._running.discard(ev.payload.get("id"))
                    self._publish(ev)
                elif line.health is not None:
                    self._health = line.health
                    self._health_seq += 1
                    self._running = set(line.health.get("running", []))
                    self._cache.clear()
                elif line.dropped:
                    h = self.hello
                    return f"the {h.mode} (PID {h.pid}) dropped this console's stream ({line.dropped})"
            return f"the {self.hello.mode} (PID {self.hello.pid}) that owned the session ended"
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the stream broke: said on screen in words, the console stays
            return (await self.client.plain(exc, "the event stream")).message

    async def _reattach(self, every: float = 0.5) -> bool:
        from mdm_console.client.remote import NoService, ServiceClient

        while self.db is not None:
            await asyncio.sleep(every)
            try:
                client = await ServiceClient.connect(self.db, operator=self.operator)
            except (NoService, OSError):
                continue
            if client.hello.plan_sha256 != self.loaded.sha256:
                await client.close()
                self._ended = (f"a new {client.hello.mode} (PID {client.hello.pid}) owns the session with another "
                               f"plan (sha256 {client.hello.plan_sha256[:12]}…); restart this console to follow it")
                return False
            old, self.client, self.hello = self.client, client, client.hello
            await old.close()
            self._heard = time.monotonic()
            self._ended = None
            self.followed_again += 1
            return True
        return False

    @property
    def can_take_over(self) -> bool:
        """Whether this OS user could run the session here (open its db for writing) once its owner has gone."""
        import os

        return self.db is not None and os.access(self.db, os.R_OK | os.W_OK) and os.access(self.db.parent, os.W_OK)

    @property
    def gone(self) -> str | None:
        if self._ended:
            return self._ended
        if time.monotonic() - self._heard > GONE_AFTER_S + 1.0:
            return f"{self.hello.mode} PID {self.hello.pid} has not answered for {time.monotonic() - self._heard:.0f} s"
        return None

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._task
        await self.client.close()

    # ---- what the service measured ------------------------------------------------------------------------------
    @property
    def live(self) -> bool:
        return bool(self._health.get("live")) and self.plan.metrics.source != "none"

    def figures_key(self) -> Hashable:
        return self._health_seq

    def _component(self, component: str) -> dict[str, Any]:
        return self._health.get("components", {}).get(component, {})

    def _cached(self, key: tuple, make):
        if key not in self._cache:
            self._cache[key] = make()
        return self._cache[key]

    def gates(self, component: str):
        from mdm_console.api.health import gates_of

        return self._cached(("gates", component), lambda: gates_of(self._component(component).get("gates", [])))

    def stats(self, component: str):
        from mdm_console.api.health import stats_of
        from mdm_console.feeds.windows import WindowStats

        def make():
            d = self._component(component).get("stats")
            if d is None:
                return WindowStats(component, 0, 0, 0, 0.0, None, None, None, None, None, "none", None,
                                   "no figures from the service yet", self.plan.metrics.window_seconds,
                                   {k: _empty_path(k) for k in ("new", "old", "unknown")})
            return stats_of(d)

        return self._cached(("stats", component), make)

    def verdict(self, component: str):
        from mdm_console.api.health import verdict_of

        return self._cached(("verdict", component), lambda: verdict_of(self._component(component).get("verdict")))

    def feed_status(self):
        f = self._health.get("feed")
        if not f:
            return None
        return FeedView(f["name"], f["interval"], f["good"], f["bad"], f["error"], f["last_bad"], f["last_bad_reason"],
                        f["age_s"], f["stale"], self._health.get("at", time.time()))

    def host(self):
        from mdm_console.api.health import host_of

        h = self._health.get("host")
        return (host_of(h), h["interval"]) if h else None

    def unknown_ops(self) -> int:
        return int(self._health.get("unknown_ops", 0))

    def store_status(self) -> dict[str, Any]:
        return self._health.get("store", {"lost": None, "write_error": None, "sealed": False})

    @property
    def running_validators(self) -> set[str]:
        return set(self._running)

    @property
    def auto_rollback_on(self) -> bool:
        return self.plan.alerts.auto_rollback.mode != "off"

    # ---- asking -----------------------------------------------------------------------------------------------
    async def call(self, name: str, req: m.Request, on_progress=None) -> m.Body:
        if self.observe and OPS[name].writes(req):
            raise OpFailed(EXIT_FAILED, "this console observes (read-only): it changes nothing")
        return await self.client.call(name, req, on_progress)

    async def series(self, component: str):
        r = await self.client.call("series", m.SeriesRequest(component=component))
        return {k: (v[0], v[1], v[2]) for k, v in r.series.items()}

    async def export(self, fmt: str, path: Path, *, force: bool = False):
        from mdm_console.client.remote import export_to

        return await export_to(self.client, fmt, path, force=force)

    @property
    def default_export_dir(self) -> Path:
        return Path.cwd()


def _empty_path(path: str):
    from mdm_console.feeds.windows import PathStats

    return PathStats(path, 0.0)
