"""Notifications: the plan's `[[notify]]` targets hear the events they asked for, through Apprise.

The notifier follows the engine's events wherever the engine runs (the console's, and a service's), turns
each into a message built from that event alone, collapses repeats of one alert within a target's
`min_interval_seconds` into one message that says how many, and hands the rest to the delivery process (notify/worker.py: Apprise
runs there, off the console's interpreter lock; a queue and a thread per target, so a hanging target delays
nothing else). Every attempt is recorded as
`notify.sent` or `notify.failed` (target, event seq, attempt, latency, error with secrets masked).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from mdm_console.notify.deliver import Outcome, ProcessDispatcher, Target
from mdm_console.notify.messages import LEVELS, Message, build, topics_of
from mdm_console.store.chain import Event

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine
    from mdm_console.plan.models import NotifyTarget

__all__ = ["Notifier", "targets_of", "Target", "Message"]

RETRY_BACKOFF_S = 1.0  # before the second attempt; doubling after each failed one
RECORD_EVERY_S = 1.0  # delivery records are written in batches, at most this often


@dataclass
class _Held:
    """Repeats of one alert at one target, held back during its interval."""

    count: int = 0
    since: float = 0.0  # wall time of the first one held
    last: Message | None = None


@dataclass
class _Rule:
    spec: NotifyTarget
    target: Target
    sent_at: dict[str, float] = field(default_factory=dict)  # message key -> monotonic time last sent
    held: dict[str, _Held] = field(default_factory=dict)


def targets_of(engine: Engine) -> tuple[list[tuple[NotifyTarget, Target]], list[tuple[str, str]]]:
    """The plan's targets made ready, and (name, problem) of those that cannot be (an unset variable)."""
    ready, problems = [], []
    for spec in engine.plan.notify:
        url = spec.url if spec.url is not None else os.environ.get(spec.url_env or "")
        if not url:
            problems.append((spec.name, f"the environment variable {spec.url_env} is not set"))
            continue
        ready.append((spec, Target(spec.name, url, timeout=spec.timeout_seconds, retries=spec.retries,
                                   base_dir=engine.loaded.path.parent)))
    return ready, problems


class Notifier:
    def __init__(self, engine: Engine, *, backoff: float | None = None):
        self.engine = engine
        ready, self.problems = targets_of(engine)
        self.rules = [_Rule(spec, target) for spec, target in ready]
        self.loop = asyncio.get_running_loop()
        self._outcomes: asyncio.Queue[Outcome] = asyncio.Queue()
        self._recorded_at = 0.0
        self.subscribed = asyncio.Event()  # set once events are followed: a change recorded after it is heard
        self.dispatcher = ProcessDispatcher([r.target for r in self.rules], self._from_thread,
                                            backoff=RETRY_BACKOFF_S if backoff is None else backoff)

    def _from_thread(self, outcome: Outcome) -> None:
        with contextlib.suppress(RuntimeError):  # the loop closed while a thread finished
            self.loop.call_soon_threadsafe(self._outcomes.put_nowait, outcome)

    async def run(self, stop: asyncio.Event, *, announce: bool = True) -> None:
        """Follow the events until `stop`; the announcements of start-up first (unfinished intents, targets
        that cannot be reached for want of their variable), unless `announce` is False (a one-shot command)."""
        for name, problem in self.problems if announce else ():
            await self._record("notify.failed", {"target": name, "seq": None, "attempt": 0,
                                                 "latency_ms": 0.0, "error": problem, "final": True})
        self.problems = []
        for intent, p in self.engine.state.open_intents.items() if announce else ():
            ev = Event(p.get("seq", 0), datetime.now(UTC), self.engine.store.actor, "intent", None,
                       {**p, "intent": intent})
            self._route(ev, ["intent.unfinished"])
        async with self.engine.subscribe() as q:
            self.subscribed.set()
            while not stop.is_set() or not q.empty():
                with contextlib.suppress(TimeoutError):
                    ev = await asyncio.wait_for(q.get(), 0.5)
                    try:
                        self._route(ev, topics_of(ev))
                    except Exception as exc:  # noqa: BLE001 - one event that cannot be told must not stop the rest
                        await self._record("notify.failed", {
                            "target": "*", "seq": ev.seq, "attempt": 0, "latency_ms": 0.0, "final": True,
                            "error": f"could not build the message: {type(exc).__name__}: {exc}"[:300]})
                self._release_held()
                if time.monotonic() - self._recorded_at >= RECORD_EVERY_S:
                    # Delivery records in one transaction a second: at an alert storm's rate, a write and a
                    # redraw per delivery cost the console's keys (benchmarks/notify.py).
                    self._recorded_at = time.monotonic()
                    await self.flush()

    def close(self) -> None:
        self.dispatcher.stop()

    def longest_wait(self) -> float:
        """The longest one delivery may take: every attempt of the slowest target, with the backoff between."""
        waits = [r.target.timeout * (r.target.retries + 1) + RETRY_BACKOFF_S * (2 ** r.target.retries)
                 for r in self.rules]
        return max(waits, default=0.0)

    async def drain(self) -> None:
        """A one-shot command's end: wait for what it handed over (bounded by the targets' own timeouts and
        retries), record every outcome, and record as failed what did not finish in that time."""
        loop = asyncio.get_running_loop()
        end = loop.time() + self.longest_wait() + 1.0
        while self.dispatcher.pending() and loop.time() < end:
            await asyncio.sleep(0.05)
        left = self.dispatcher.pending()
        await asyncio.sleep(0.1)  # outcomes the reader thread reports just after it counts them finished
        await self.flush()
        for (target, seq, topic), n in left.items():
            for _ in range(n):
                await self._record("notify.failed", {
                    "target": target, "seq": seq, "topic": topic, "attempt": 0, "latency_ms": 0.0, "final": True,
                    "error": f"not delivered before the command ended (waited {self.longest_wait() + 1:.0f} s)"})

    async def flush(self) -> None:
        """Record the outcomes that arrived since the last batch (the console stopping records them too)."""
        outcomes = []
        while not self._outcomes.empty():
            outcomes.append(self._outcomes.get_nowait())
        await self._record_outcomes(outcomes)

    # ---- routing ------------------------------------------------------------------------------------
    def _route(self, ev: Event, topics: list[str]) -> None:
        cutover = self.engine.plan.cutover.name
        for rule in self.rules:
            spec = rule.spec
            for topic in topics:
                wanted = topic in spec.events or (topic == "alert.cleared" and spec.send_clears)
                if not wanted:
                    continue
                if topic in ("alert.raised", "feed.stale") and \
                        LEVELS.get(ev.payload.get("level", "warning"), 1) < LEVELS[spec.min_level]:
                    continue
                self._offer(rule, build(ev, topic, cutover))
                break  # one message per event and target

    def _offer(self, rule: _Rule, message: Message) -> None:
        """Send now, or hold it back as a repeat of an alert sent within the interval."""
        now = time.monotonic()
        interval = rule.spec.min_interval_seconds
        if message.key.startswith("alert:") and interval > 0:
            last = rule.sent_at.get(message.key)
            if last is not None and now - last < interval:
                held = rule.held.setdefault(message.key, _Held(since=time.time()))
                held.count += 1
                held.last = message
                return
            rule.sent_at[message.key] = now
        self.dispatcher.submit(rule.target, message)

    def _release_held(self) -> None:
        """Repeats held for a whole interval go out as one message that says how many."""
        now = time.monotonic()
        for rule in self.rules:
            for key, held in list(rule.held.items()):
                if now - rule.sent_at.get(key, 0.0) < rule.spec.min_interval_seconds or held.last is None:
                    continue
                del rule.held[key]
                rule.sent_at[key] = now
                since = datetime.fromtimestamp(held.since, UTC).strftime("%H:%M:%S")
                m = held.last
                self.dispatcher.submit(rule.target, replace(
                    m, title=f"{m.title} (x{held.count})",
                    body=f"repeated {held.count} time(s) since {since} UTC, collapsed into this message "
                         f"(min_interval_seconds {rule.spec.min_interval_seconds:g}); the latest:\n{m.body}"))

    # ---- recording ----------------------------------------------------------------------------------
    async def _record_outcomes(self, outcomes: list[Outcome]) -> None:
        """Every attempt's outcome, in one transaction per batch (a burst of deliveries is one write)."""
        from mdm_console.store.session import EventSpec

        specs = []
        for o in outcomes:
            payload = {"target": o.target, "seq": o.seq, "topic": o.topic, "attempt": o.attempt,
                       "latency_ms": o.latency_ms, "final": o.final}
            specs.append(EventSpec("notify.sent", None, payload) if o.ok else
                         EventSpec("notify.failed", None, {**payload, "error": o.error}))
        if specs and not self.engine.read_only:
            with contextlib.suppress(Exception):  # a full disk must not stop the notifications
                await self.engine.record_many(specs)

    async def _record(self, kind: str, payload: dict) -> None:
        if self.engine.read_only:
            return
        with contextlib.suppress(Exception):  # a full disk must not stop the notifications
            await self.engine.record(kind, None, payload)
