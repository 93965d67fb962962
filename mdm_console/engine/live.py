"""The live session: metric feeds, health windows, alerts, auto-rollback policy, auto-advance,
flag-file drift watch, and storing aggregates. The console runs it; it is the Engine's HealthView.

All of it runs as tasks on the event loop; blocking reads (files, HTTP, psutil, DuckDB) go to
threads. `tick()` is one pass of the 1-second loop, callable directly by tests.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable
import dataclasses
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from mdm_console import pools
from mdm_console.engine.gates import StageCounters
from mdm_console.engine.rollout import stat_key
from mdm_console.engine.state import BLOCKED_ALERT
from mdm_console.feeds.alerts import AlertBook, Rule, Transition
from mdm_console.feeds.jsonl import JsonlFeed, Position
from mdm_console.feeds.system import SystemFeed
from mdm_console.feeds.windows import ALL, BUCKET_SECONDS, NEW, OLD, Windows, WindowStats
from mdm_console.store import metrics as mstore
from mdm_console.verdict import (
    REGRESSION, ComponentVerdict, error_verdict_strata, latency_stratum, latency_verdict,
)

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine

PLAN_ALERT = "plan.file"
CLOCK_ALERT = "clock.step"
CLOCK_STEP_S = 5.0  # more than this between two ticks is a step, not drift

MIN_OPS_TO_JUDGE = 20  # below this many operations in the window a rate says too little to alert on
# The latency criterion's chance, per look, that a bound is wrong (each of the two): the criterion must then also
# hold for the policy's for_seconds, across windows that renew.
LATENCY_ALPHA = 0.001
PATH_LABEL = {"new": "new path", "old": "old path", "unknown": "both paths (the feed gives no variant)"}


@dataclass(frozen=True)
class Hit:
    """A rollback criterion that holds now: its value against its threshold, over what evidence."""

    name: str  # error_rate | success_rate | latency | verdict
    value: float
    threshold: float
    unit: str  # ratio | share | verdict
    window_s: float
    detail: str  # the sample counts on each path (and the bounds, for latency)
    below: bool = False

    def figure(self, v: float) -> str:
        if self.unit == "ratio":
            return f"{v * 100:.2f} %"
        if self.unit == "share":
            return f"+{v * 100:.0f} %"
        return f"{v:.4g}"


@dataclass(frozen=True)
class Breach:
    """One criterion's own clock: since when it has held without a break, and its values over that span."""

    since: float
    low: float
    high: float
    last: Hit

    def seen(self, hit: Hit) -> Breach:
        return Breach(self.since, min(self.low, hit.value), max(self.high, hit.value), hit)

    def reason(self, held: float, policy: Any) -> str:
        h = self.last
        rule = f"(policy {policy.mode}, for_seconds {policy.for_seconds:g})"
        if h.name == "verdict":
            return f"verdict regression held {held:.0f} s; {h.detail} {rule}"
        span = h.figure(self.low) if self.low == self.high else f"{h.figure(self.low)} to {h.figure(self.high)}"
        limit = f"{'below' if h.below else 'above'} {h.figure(h.threshold)}"
        return f"{h.name} {span} ({limit}) held {held:.0f} s; policy window {h.window_s:g} s: {h.detail} {rule}"


@dataclass
class _Evidence:
    """A component's verdict inputs for its current stage: the error counts per closed interval, the latency test's
    per-bucket evidence (kept as the window's sketches are folded away), and when it was last judged."""

    stage_seq: int
    since: float
    judged_at: tuple[int, int] = (-1, -1)
    errors: dict[int, tuple[int, int, int, int]] = dataclasses.field(default_factory=dict)  # the error intervals
    gathered: float = 0.0  # the intervals before this are in `errors`
    late_seen: int = -1  # Windows.late_changes when they were gathered
    latency: dict[int, tuple[int, int, int, int]] = dataclasses.field(default_factory=dict)
    latency_seen: dict[int, tuple[int, int]] = dataclasses.field(default_factory=dict)


@dataclasses.dataclass
class Blocked:
    """An automatic rollback the policy decided but could not carry out (a read-only flag directory, an open
    intent, a full disk): tried again at `at`, the wait doubling up to RETRY_MAX_S; the alert says what blocks it."""

    at: float
    delay: float
    error: str
    reason: str


RETRY_FIRST_S, RETRY_MAX_S = 2.0, 60.0


class LiveMonitor:
    def __init__(self, engine: Engine, *, system: bool = True):
        self.engine = engine
        plan = engine.plan
        self.windows = Windows([c.id for c in plan.components], plan.metrics.window_seconds)
        self.feed: Any = None
        self.system = SystemFeed() if system else None
        self.book = AlertBook({k: v["level"] for k, v in engine.state.alerts.items()})
        self.breaches: dict[str, dict[str, Breach]] = {}  # component -> criterion -> since when it holds
        self._proposed_at: dict[str, float] = {}  # component -> when the policy last proposed its rollback
        self._evidence_seq: dict[str, int] = {}  # component -> the stage_seq its evidence period was set for
        self.fired: set[str] = set()
        # component -> its automatic rollback that could not run: tried again with backoff, said once per cause
        self.blocked: dict[str, Blocked] = {}
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task] = []
        self.restarts: dict[str, int] = {}  # supervised task -> times it was started again
        self.store_error: str | None = None  # the last failed store pass of the aggregates
        self._clock: tuple[float, float] | None = None  # (wall, monotonic) at the last tick
        self.ticks = 0  # passes of the 1-second loop so far
        self.plan_check_every = 5.0
        self._plan_stat: tuple | None = None  # the plan file's stat at the last look  # seconds between looks at the plan file on disk
        self._plan_checked = time.monotonic()
        self._read_lock = asyncio.Lock()
        self._last_store = 0.0
        self._saved_positions: dict[str, tuple] = {}  # feed -> (dev, ino, offset) last written
        self.verdicts: dict[str, ComponentVerdict] = {}  # component -> the canary verdict of its current stage
        # Moves whenever a component's verdict changes or goes (figures_key): the latency verdict is judged off the
        # event loop, so it can change after a screen drew the bucket's figures, with nothing else moving.
        self.verdict_changes = 0
        # component -> (its key, the figures with the policy's, the window's figures they were made from)
        self._policy_figures: dict[str, tuple[tuple, WindowStats, WindowStats]] = {}
        self._evidence: dict[str, _Evidence] = {}  # component -> what its verdict has gathered in this stage
        self.exporter: Any = None  # the console's own metrics endpoint, when --metrics-port is set
        self.notifier: Any = None  # the plan's [[notify]] targets, when it has any
        a = plan.alerts
        self.component_rules = [Rule("error_rate", a.error_rate), Rule("latency_p99_ms", a.latency_p99_ms),
                                Rule("success_rate", a.success_rate, below=True)]
        self.system_rules = [Rule(name, levels) for name, levels in (("cpu_percent", a.cpu_percent),
                                                                     ("memory_percent", a.memory_percent))
                             if levels is not None]  # the host is judged only when the plan sets its levels

    # ---- lifecycle -----------------------------------------------------------------------------
    async def start(self) -> None:
        await self._restore()
        await self._clear_unjudged()
        plan, e = self.engine.plan, self.engine
        m = plan.metrics
        comps = {c.id for c in plan.components}
        if m.source == "jsonl":
            pos = self._positions.get("jsonl")
            self.feed = JsonlFeed(e.loaded.resolve(m.path), comps, self.windows.add_tally, m.interval_seconds,
                                  Position(*pos) if pos else None)
            # What the file holds now is read before the console draws: its first figures are the feed's, not
            # "NO DATA" until the feed's first pass and the next redraw (0.4 s at 400 components,
            # benchmarks/scale.py). A read that fails is the feed's loop's to retry and report, as any.
            with contextlib.suppress(Exception):
                await self.feed.read_now(self._read_lock)
                await self.judge_alerts(e.now())
            self._supervise("feed", lambda: self.feed.run(self._stop, self._read_lock), self.feed.status)
        elif m.source == "prometheus":
            from mdm_console.feeds.prometheus import PrometheusFeed

            self.feed = PrometheusFeed(m.url, m.prefix, comps, self.windows.add, m.interval_seconds)
            self._supervise("feed", lambda: self.feed.run(self._stop), self.feed.status)
        elif m.source == "promql":
            from mdm_console.feeds.promql import PromQLFeed

            self.feed = PromQLFeed(m.url, m.queries, self.windows.add, m.interval_seconds)
            self._supervise("feed", lambda: self.feed.run(self._stop), self.feed.status)
        if self.system:
            self._supervise("host", lambda: self.system.run(self._stop), self.system.status)
        self._supervise("drift watch", lambda: e.rollout.watch_drift(self._stop))
        if plan.notify and not e.read_only:
            from mdm_console.notify import Notifier

            self.notifier = Notifier(e)
            self._supervise("notifications", lambda: self.notifier.run(self._stop))
        self._supervise("monitor", self._loop)
        e.health = self

    async def catch_up(self) -> str:
        """Headless, with nobody running the feeds: bring the windows to the feed's present before the gates
        judge (a JSONL feed from the stored read position to the end of the file; PromQL by a range query over
        the window; a scrape target by two scrapes one interval apart), store what was read when the session is
        writable, and mark every component whose newest figure is too old as stale, saying why. Returns one line
        saying what was read."""
        from mdm_console.feeds.base import STALE_INTERVALS

        await self._restore()
        e, m = self.engine, self.engine.plan.metrics
        comps = {c.id for c in e.plan.components}
        before = {c: self.windows.newest(c) for c in comps}
        if m.source == "jsonl":
            path = e.loaded.resolve(m.path)
            pos = self._positions.get("jsonl")
            self.feed = JsonlFeed(path, comps, self.windows.add_tally, m.interval_seconds,
                                  Position(*pos) if pos else None)
            try:
                for tally in await pools.FEEDS.run(self.feed.read_available):
                    self.windows.add_tally(tally)
            finally:
                self.feed.close()
            samples = []
            what = f"read {self.feed.status.good} new line(s) of {path}" + (f", {self.feed.status.bad} unusable"
                                                                           if self.feed.status.bad else "")
        elif m.source == "promql":
            from mdm_console.feeds.promql import PromQLFeed

            self.feed = PromQLFeed(m.url, m.queries, self.windows.add, m.interval_seconds)
            end = time.time()
            samples = await pools.FEEDS.run(self.feed.history, end - m.window_seconds, end, before)
            what = f"asked {self.feed.status.name} for the last {m.window_seconds:g} s: {len(samples)} step(s)"
        elif m.source == "prometheus":
            from mdm_console.feeds.prometheus import PrometheusFeed

            samples = []
            self.feed = PrometheusFeed(m.url, m.prefix, comps, samples.append, m.interval_seconds)
            await self.feed.scrape_once()
            await asyncio.sleep(m.interval_seconds)  # counters are cumulative: a rate needs two looks
            await self.feed.scrape_once()
            what = f"scraped {self.feed.status.name} twice, {m.interval_seconds:g} s apart"
        else:
            return "the plan has no metric feed"
        for sample in samples:
            self.windows.add(sample)
        if self.feed.status.error:
            what += f" ({self.feed.status.error})"
        now = time.time()
        limit = STALE_INTERVALS * max(m.interval_seconds, BUCKET_SECONDS)
        stale = dict(self.windows.stale)  # set as a whole: Windows.figures_key
        for c, why in getattr(self.feed, "problems", {}).items():
            stale[c] = f"no data for {c}: {why} (headless, caught up: {what})"
        for c in comps:
            newest = self.windows.newest(c)
            if c in stale:
                continue
            if not newest:
                stale[c] = f"no metrics for {c} (headless, caught up: {what})"
            elif now - newest > limit:
                stale[c] = f"the newest metrics for {c} are {now - newest:.0f} s old (headless, caught up: {what})"
        self.windows.stale = stale
        self._sync_evidence()
        if not self.engine.read_only:
            await self.store_aggregates()
        await self.judge_verdicts()
        self.engine.health = self
        return what

    async def stop(self) -> None:
        self._stop.set()
        for t in self._tasks:
            t.cancel()
        for t in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
        self._tasks.clear()
        if self.notifier is not None:
            self.notifier.close()
            with contextlib.suppress(Exception):  # stopping never fails
                await self.notifier.flush()
        if not self.engine.read_only:
            try:
                await self.store_aggregates()
            except Exception as exc:  # noqa: BLE001 - stopping never fails; the reason is kept
                self.store_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
        if self.engine.health is self:
            self.engine.health = None

    def _spawn(self, coro) -> None:
        self._tasks.append(asyncio.create_task(coro))

    def _supervise(self, name: str, start: Callable[[], Awaitable[None]], status: Any = None) -> None:
        """Run a part of the safety net for as long as the session runs: if it ends for any reason but the
        stop, its error is shown (on its status) and recorded, and it is started again after a backoff
        (1 s, doubling to 30 s; back to 1 s after a minute without failing). Never a silent STALE."""

        async def keep() -> None:
            backoff = 1.0
            while not self._stop.is_set():
                began = time.monotonic()
                try:
                    await start()
                    if self._stop.is_set():
                        return
                    error = "it ended by itself"
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - whatever it was, the watch goes on
                    error = f"{type(exc).__name__}: {exc}"[:500]
                if time.monotonic() - began > 60:
                    backoff = 1.0
                self.restarts[name] = self.restarts.get(name, 0) + 1
                message = f"{name} failed ({error}); restarting in {backoff:g} s"
                if status is not None:
                    status.error = message
                await self._record_quietly("task.restarted", {"task": name, "error": error, "backoff_s": backoff,
                                                              "restarts": self.restarts[name]})
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stop.wait(), backoff)
                backoff = min(backoff * 2, 30.0)

        self._spawn(keep())

    async def _clear_unjudged(self) -> None:
        """Host alerts left active by an earlier session whose plan had host levels this one does not set:
        nothing would ever judge (and clear) them again."""
        judged = {f"{r.metric}:host" for r in self.system_rules}
        for alert in [a for a in self.engine.state.alerts if a.endswith(":host") and a not in judged]:
            self.book.active.pop(alert, None)
            await self._record_quietly("alert.cleared", {"alert": alert,
                                                         "message": "the plan sets no levels for the host"})

    async def _watch_clock(self) -> None:
        """A wall clock that moves by more than CLOCK_STEP_S against the monotonic clock between two
        ticks has been stepped (NTP, a VM resumed, a hand): recorded, shown, and the stage-time gates
        count from it."""
        wall, mono = time.time(), time.monotonic()
        last, self._clock = self._clock, (wall, mono)
        if last is None:
            return
        step = (wall - last[0]) - (mono - last[1])
        if abs(step) > CLOCK_STEP_S:
            at = datetime.fromtimestamp(wall, UTC).isoformat()
            await self._record_quietly("clock.stepped", {"step_s": round(step, 3), "at": at})
            await self._record_quietly("alert.raised", {
                "alert": CLOCK_ALERT, "level": "warning", "value": round(step, 3),
                "message": f"the wall clock stepped {'ahead' if step > 0 else 'back'} by {abs(step):.0f} s; "
                           "event times around it are off by that much and stage times count from now"})
        elif (CLOCK_ALERT in self.engine.state.alerts and self.engine.state.clock_stepped_at
              and wall - datetime.fromisoformat(self.engine.state.clock_stepped_at).timestamp() > 60):
            await self._record_quietly("alert.cleared", {"alert": CLOCK_ALERT,
                                                         "message": "no clock step for a minute"})

    async def _check_plan_file(self) -> None:
        """Say so when the plan file on disk is no longer the one this session runs (a restart reads it)."""
        import hashlib

        path = self.engine.loaded.path

        def sha() -> str | None:
            try:
                return hashlib.sha256(path.read_bytes()).hexdigest()
            except FileNotFoundError:
                return None  # removed; any other error (out of descriptors, EIO) says nothing about the file

        seen = await pools.WATCH.run(stat_key, path)  # hashed again only when the file moved
        if seen == self._plan_stat:
            return
        try:
            now = await pools.WATCH.run(sha)
        except OSError:
            return  # not judged this time: looked at again at the next pass
        self._plan_stat = seen
        active = PLAN_ALERT in self.engine.state.alerts
        if now != self.engine.loaded.sha256 and not active:
            what = "was removed" if now is None else "changed"
            await self._record_quietly("alert.raised", {
                "alert": PLAN_ALERT, "level": "warning",
                "message": f"the plan file {path} {what} on disk since this session opened it; the console "
                           "still runs the plan it loaded (restart it to use the new one)"})
        elif now == self.engine.loaded.sha256 and active:
            await self._record_quietly("alert.cleared", {"alert": PLAN_ALERT,
                                                         "message": "the plan file is as this session loaded it"})

    async def _record_quietly(self, kind: str, payload: dict[str, Any], component: str | None = None) -> None:
        """Record an event about the watch itself; a failing store must not stop the watch."""
        if self.engine.read_only:
            return
        with contextlib.suppress(Exception):
            await self.engine.record(kind, component, payload)

    async def _restore(self) -> None:
        """Windows and the feed position from the store: a restart neither loses nor re-reads data."""
        self.windows.restore(await self.engine.store.acall(mstore.load_all), self.engine.now().timestamp())
        self._positions = await self.engine.store.acall(mstore.positions)
        self._saved_positions = dict(self._positions)

    async def _loop(self) -> None:
        last_error = None
        while not self._stop.is_set():
            try:
                await self.tick()
                last_error = None
            except Exception as exc:  # noqa: BLE001 - one bad pass must not stop the watch
                error = f"{type(exc).__name__}: {exc}"
                if error != last_error:  # once per distinct error, not per second
                    await self._record_quietly("monitor.error", {"error": error})
                last_error = error
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stop.wait(), 1.0)

    # ---- HealthView --------------------------------------------------------------------------------
    def stage_counters(self, component: str, since: datetime) -> StageCounters | None:
        if self.engine.plan.metrics.source == "none":
            return None
        return self.windows.stage_counters(component, since)

    def verdict(self, component: str) -> ComponentVerdict | None:
        """The canary verdict of the component's current stage (None at 0 % or before the first tick)."""
        return self.verdicts.get(component)

    async def judge_verdicts(self, now: float | None = None) -> None:
        """The new path against the old one, for every component with traffic on its new path, once per 5 s bucket,
        on the closed buckets of its current stage (verdict/stratified.py; the statistics off the event loop); a
        verdict that changes is recorded (`verdict.changed`). `now`: the time judged at (a simulation's clock)."""
        e, v = self.engine, self.engine.plan.verdict
        t = time.time() if now is None else now
        closed = t // BUCKET_SECONDS * BUCKET_SECONDS  # buckets that end by then are closed
        bucket = (int(t // BUCKET_SECONDS), self.windows.late_changes)  # judged again when a closed bucket moved
        work: dict[str, tuple] = {}
        for comp, cstate in e.state.components.items():
            if cstate.percent <= 0 or self.windows.stale.get(comp):
                self._evidence.pop(comp, None)
                if self.verdicts.pop(comp, None) is not None:
                    self.verdict_changes += 1
                continue
            ev = self._evidence.get(comp)
            if ev is None or ev.stage_seq != cstate.stage_seq:
                since = self.windows.since(comp)
                ev = self._evidence[comp] = _Evidence(cstate.stage_seq, float(since) if since is not None else
                                                      e.rollout.stage_since(comp).timestamp())
            if ev.judged_at == bucket:
                continue
            ev.judged_at = bucket
            if ev.late_seen != self.windows.late_changes:  # a line into a closed bucket: gather them all again
                ev.errors.clear()
                ev.gathered, ev.late_seen = ev.since, self.windows.late_changes
            # Closed buckets do not change otherwise: only those closed since the last pass are gathered (a stage of
            # hours is thousands of them, for every canary, every 5 s).
            ev.errors.update(self.windows.strata(comp, ev.gathered, closed))
            ev.gathered = max(ev.gathered, closed)
            errors = ev.errors
            old_w = new_w = None
            if v.latency:
                window_start = max(ev.since, t - self.windows.window_seconds)
                for start, (old, new) in self.windows.bucket_sketches(comp, window_start, closed).items():
                    seen = (old.count, new.count)
                    if ev.latency_seen.get(start) != seen:  # a new bucket, or late lines into one
                        ev.latency_seen[start] = seen
                        ev.latency[start] = latency_stratum(old, new, quantile=v.latency_quantile,
                                                            tolerance=v.latency_tolerance)
                old_w, new_w = self.windows.sketch(comp, OLD, t), self.windows.sketch(comp, NEW, t)
            work[comp] = (list(errors.values()), list(ev.latency.values()), old_w, new_w)
        if not work:
            return

        def judge_all() -> dict[str, ComponentVerdict]:
            out = {}
            for comp, (errors, latency, old_w, new_w) in work.items():
                n_new, x_new, n_old, x_old = zip(*errors, strict=True) if errors else ((), (), (), ())
                out[comp] = ComponentVerdict(
                    error_verdict_strata(n_new, x_new, n_old, x_old, alpha=v.alpha, min_operations=v.min_operations,
                                         tolerance=v.error_tolerance, margin=v.max_error_increase),
                    latency_verdict(latency, old_w, new_w, alpha=v.alpha, min_operations=v.min_operations,
                                    tolerance=v.latency_tolerance, quantile=v.latency_quantile)
                    if v.latency else None)
            return out

        for comp, verdict in (await pools.WATCH.run(judge_all)).items():
            cstate = e.state.components.get(comp)
            if cstate is None or cstate.percent <= 0:
                continue
            if self.verdicts.get(comp) != verdict:
                self.verdict_changes += 1
            self.verdicts[comp] = verdict
            if e.state.verdicts.get(comp) != verdict.verdict:
                await self._record_quietly("verdict.changed", {**verdict.as_dict(), "text": verdict.text(),
                                                               "stage": cstate.stage}, comp)

    def stats(self, component: str) -> WindowStats:
        """Window figures (computed again only when the component's data or the window moved: Windows.stats), with
        the figures the auto-rollback policy judges (the new path over its own, shorter window) beside them."""
        now = self.engine.now()
        st = self.windows.stats(component, now)
        if self.engine.state.components.get(component) is None or not st.ops:
            return st
        t = now.timestamp()
        # The window's figures are the same object until this component's data, window or staleness moved
        # (Windows.stats): with the bucket, that keys the policy's figures (not every line of every component).
        key = (id(st), int(t // BUCKET_SECONDS))
        kept = self._policy_figures.get(component)
        if kept is None or kept[0] != key or kept[2] is not st:
            span = self.engine.plan.alerts.auto_rollback.window_seconds
            path = self.windows.path(component, NEW, t, span)
            if not path.ops:
                path = self.windows.path(component, ALL, t, span)
            kept = self._policy_figures[component] = (key, dataclasses.replace(st, policy=path), st)
        return kept[1]

    def figures_key(self) -> tuple:
        """Equal for two reads only if no component's `stats` or `verdict` can differ between them."""
        return self.windows.figures_key(self.engine.now().timestamp()), self.verdict_changes

    # ---- one pass ----------------------------------------------------------------------------------
    async def tick(self) -> None:
        e = self.engine
        now = e.now()
        self.ticks += 1
        if not e.store.read_only and not e.store.lost:
            await pools.WATCH.run(e.store.file_problem)  # noticed within a second, shown on every screen
        await self._watch_clock()
        if time.monotonic() - self._plan_checked >= self.plan_check_every:
            self._plan_checked = time.monotonic()
            await self._check_plan_file()
        await self.judge_alerts(now)
        await self.judge_verdicts()
        await self._auto_rollback(now)
        if any(c.auto_advance for c in e.state.components.values()) and not e.read_only:
            await e.rollout.auto_tick()
        if time.time() - self._last_store >= BUCKET_SECONDS:
            try:
                await self.store_aggregates()
            except Exception as exc:  # noqa: BLE001 - the figures stay in memory; the next pass stores them
                self.store_error = f"{type(exc).__name__}: {' '.join(str(exc).split())[:300]}"
            else:
                self.store_error = None
        if self.exporter is not None:
            self.exporter.update()

    async def judge_alerts(self, now: datetime) -> None:
        """The feed's staleness and every component's alert levels on the current stage's figures, recorded as
        they change (also once before the console's first draw: its first frame ranks what the engine judged)."""
        stale = self.feed.status.stale_reason(now.timestamp()) if self.feed else None
        # A feed that answers per component (PromQL) may have no data for one component only: that one's figures
        # are "no data" with the reason, the others are judged as usual.
        blind = {} if stale or self.feed is None else self.feed_blind(now.timestamp())
        self.windows.stale = {c: stale for c in self.windows.components} if stale else blind
        changes: list[Transition] = []
        before = dict(self.book.active)  # a transition whose event cannot be written is judged again
        if self.feed is not None:
            t = self.book.set_condition(f"feed_stale:{self.feed.status.name}", "error" if stale else None,
                                        stale or f"{self.feed.status.name} is sending data again")
            if t:
                changes.append(t)
            changes += self._no_data_alerts(blind)
        self._sync_evidence()
        for comp in self.windows.components:
            if stale:  # a stale feed's figures are not judged (its own alert says why); not even made
                break
            if comp in blind:  # nor a component the feed has no data for (its own alert says why)
                continue
            st = self.stats(comp)
            # The new path decides the component's alerts (blended figures only when the feed gives no
            # variant, and they say so); the old path has its own, so a bad day on it is not the canary's.
            for path, prefix in ((st.primary, ""), (st.old, "old:")):
                if path.ops < MIN_OPS_TO_JUDGE:  # too little evidence in this stage: nothing raised, nothing kept
                    changes += self._no_evidence(comp, prefix, path)
                    continue
                subject = f"{comp} {PATH_LABEL[path.path]}"
                for rule in self.component_rules:
                    value = {"error_rate": path.error_rate, "latency_p99_ms": path.p99_ms,
                             "success_rate": path.success_rate}[rule.metric]
                    t = self.book.judge(f"{prefix}{rule.metric}:{comp}", subject, rule, value, component=comp)
                    if t:
                        changes.append(dataclasses.replace(
                            t, message=f"{t.message} (last {path.seconds:g} s, {path.ops} ops)"))
        if self.system and self.system.latest:
            s = self.system.latest
            for rule in self.system_rules:
                t = self.book.judge(f"{rule.metric}:host", "host", rule, getattr(s, rule.metric))
                if t:
                    changes.append(t)
        for t in changes:
            try:
                await self._record_transition(t)
            except Exception:  # noqa: BLE001 - the level in memory follows the log, never runs ahead of it
                if t.alert in before:
                    self.book.active[t.alert] = before[t.alert]
                else:
                    self.book.active.pop(t.alert, None)

    def feed_blind(self, now: float) -> dict[str, str]:
        """Components the feed has had no data for long enough to call them stale, with the reason (a feed that
        answers per component: PromQL); {} for a feed that answers as a whole."""
        reasons = getattr(self.feed, "stale_reasons", None)
        return reasons(now) if reasons is not None else {}

    def _no_data_alerts(self, blind: dict[str, str]) -> list[Transition]:
        """A warning per component the feed has no data for (`no_data:<component>`), cleared when data comes."""
        out = []
        for comp, why in blind.items():
            if (t := self.book.set_condition(f"no_data:{comp}", "warning", why)) is not None:
                out.append(dataclasses.replace(t, component=comp))
        for alert in [a for a in self.book.active if a.startswith("no_data:") and a[8:] not in blind]:
            t = self.book.set_condition(alert, None, f"{alert[8:]}: the feed has data for it again")
            if t is not None:
                out.append(dataclasses.replace(t, component=alert[8:]))
        return out

    def _sync_evidence(self) -> None:
        """Each component's evidence starts where its current stage began: a stage change or a rollback opens a
        new evidence period (the figures, the alerts, the policy's window and the latency verdict read only it)."""
        for comp, cstate in self.engine.state.components.items():
            if self._evidence_seq.get(comp) == cstate.stage_seq:
                continue
            self._evidence_seq[comp] = cstate.stage_seq
            since = cstate.stage_since if cstate.stage_seq else None  # never moved: the whole window is this stage
            self.windows.set_since(comp, datetime.fromisoformat(since).timestamp() if since else None)

    def _no_evidence(self, comp: str, prefix: str, path: Any) -> list[Transition]:
        """Clear the path's active alerts of `comp`: its stage has too little traffic on that path to judge."""
        ids = [f"{prefix}{rule.metric}:{comp}" for rule in self.component_rules]
        if not any(a in self.book.active for a in ids):
            return []
        cstate = self.engine.state.components.get(comp)
        began = ""
        if cstate is not None and cstate.stage_since and cstate.stage_seq:
            at = cstate.stage_since[11:19]
            began = (f" since the rollback at {at} UTC" if cstate.stage_how == "rollback"
                     else f" since {cstate.stage} began at {at} UTC")
        label = PATH_LABEL[path.path]
        why = (f"{comp}: no traffic on the {label}{began}" if path.ops == 0 else
               f"{comp}: only {path.ops} ops on the {label}{began} in the last {path.seconds:g} s "
               f"(an alert needs {MIN_OPS_TO_JUDGE}); nothing left to judge it on")
        return [t for a in ids if (t := self.book.no_evidence(a, why, comp)) is not None]

    async def _record_transition(self, t: Transition) -> None:
        if self.engine.read_only:
            return
        if t.level is None:
            await self.engine.record("alert.cleared", t.component, {"alert": t.alert, "message": t.message,
                                                                    "value": t.value})
        else:
            await self.engine.record("alert.raised", t.component, {
                "alert": t.alert, "level": t.level, "message": t.message, "value": t.value,
                "threshold": t.threshold, **({"component": t.component} if t.component else {})})

    # ---- the auto-rollback policy --------------------------------------------------------------------
    def criteria(self, comp: str, now: datetime) -> dict[str, Hit]:
        """Every rollback criterion that holds right now for the component's new path, judged over the policy's own
        window of the current stage (`alerts.auto_rollback.window_seconds`), each only with the evidence it needs:
        `min_operations` on each path it reads (latency: enough for a bound of each path's p99)."""
        policy = self.engine.plan.alerts.auto_rollback
        if self.windows.stale.get(comp):
            return {}
        t, span = now.timestamp(), policy.window_seconds
        new = self.windows.path(comp, NEW, t, span)
        if not new.ops:  # a feed without variants: both paths blended, which the reason says
            new = self.windows.path(comp, ALL, t, span)
        old = self.windows.path(comp, OLD, t, span)
        counts = (f"{PATH_LABEL[new.path]} {new.ops} ops, {new.errors} errors; old path {old.ops} ops, "
                  f"{old.errors} errors")
        hits: dict[str, Hit] = {}
        enough = new.ops >= policy.min_operations
        if enough and new.error_rate is not None and new.error_rate > policy.error_rate_above:
            hits["error_rate"] = Hit("error_rate", new.error_rate, policy.error_rate_above, "ratio", span, counts)
        if (enough and policy.success_rate_below is not None and new.success_rate is not None
                and new.success_rate < policy.success_rate_below):
            hits["success_rate"] = Hit("success_rate", new.success_rate, policy.success_rate_below, "ratio", span,
                                       counts, below=True)
        verdict = self.verdicts.get(comp)
        if policy.on_regression and verdict is not None and verdict.verdict == REGRESSION:
            part = verdict.errors if verdict.errors.verdict == REGRESSION else verdict.latency
            value = part.diff if part is verdict.errors else part.shift_ms
            hits["verdict"] = Hit("verdict", value or 0.0, 0.0, "verdict", span,
                                  f"canary verdict: {verdict.text()}")
        if policy.latency and new.path == "new" and min(new.ops, old.ops) >= policy.min_operations:
            hit = self._latency_hit(comp, t, span, counts)
            if hit is not None:
                hits["latency"] = hit
        return hits

    def _latency_hit(self, comp: str, t: float, span: float, counts: str) -> Hit | None:
        """The new path's p99 is slower than the old path's by the policy's share and its floor in milliseconds,
        beyond doubt: its lower bound (order statistics, LATENCY_ALPHA) against the old path's upper bound. Too few
        latencies on either path for a bound: the criterion cannot hold."""
        from mdm_console.verdict.bounds import quantile_bounds

        policy = self.engine.plan.alerts.auto_rollback
        new_low, _ = quantile_bounds(self.windows.sketch(comp, NEW, t, span), 0.99, LATENCY_ALPHA)
        _, old_high = quantile_bounds(self.windows.sketch(comp, OLD, t, span), 0.99, LATENCY_ALPHA)
        if new_low is None or old_high is None or old_high <= 0:
            return None
        ratio = new_low / old_high - 1
        if ratio > policy.degradation_above and new_low - old_high > policy.min_increase_ms:
            return Hit("latency", ratio, policy.degradation_above, "share", span,
                       f"{counts}; new p99 at least {new_low:.0f} ms, old p99 at most {old_high:.0f} ms")
        return None

    def criterion(self, comp: str, now: datetime) -> tuple[str, float, float, str] | None:
        """The first criterion that holds now, as (what, value, threshold, over what); None if none does."""
        for hit in self.criteria(comp, now).values():
            return hit.name, hit.value, hit.threshold, f"{hit.detail}, last {hit.window_s:g} s"
        return None

    async def _auto_rollback(self, now: datetime) -> None:
        from mdm_console.engine.core import POLICY

        e = self.engine
        policy = e.plan.alerts.auto_rollback
        if policy.mode == "off" or e.read_only:
            return
        t = now.timestamp()
        for comp, cstate in e.state.components.items():
            hits = self.criteria(comp, now) if cstate.percent > 0 else {}
            mine = self.breaches.setdefault(comp, {})
            for name in [n for n in mine if n not in hits]:  # each criterion has its own clock
                del mine[name]
            for name, hit in hits.items():
                mine[name] = mine[name].seen(hit) if name in mine else Breach(t, hit.value, hit.value, hit)
            if not hits:
                self.fired.discard(comp)
                self.breaches.pop(comp, None)
                await self._unblock(comp, f"no rollback criterion holds for {comp} any more"
                                    if cstate.percent > 0 else f"{comp} is at 0 %")
                if cstate.proposal is not None:  # its evidence is gone: the proposal is withdrawn, saying so
                    with e.acting_as(POLICY):
                        await self._record_quietly("proposal.answered", {
                            "component": comp, "answers": cstate.proposal["seq"], "answer": "withdrawn",
                            "reason": f"no rollback criterion holds for {comp} any more"}, comp)
                continue
            blocked = self.blocked.get(comp)
            if blocked is not None:  # decided already: tried again when its backoff ends, not proposed again
                if t >= blocked.at:
                    await self._roll_back(comp, blocked.reason, t)
                continue
            due = sorted((b for b in mine.values() if t - b.since >= policy.for_seconds), key=lambda b: b.since)
            if not due:
                continue
            repeat = 0
            if comp in self.fired:  # proposed already: again only while unanswered, once per repropose_seconds
                if (policy.mode != "prompt" or cstate.proposal is None
                        or t - self._proposed_at.get(comp, t) < policy.repropose_seconds):
                    continue
                repeat = int(cstate.proposal.get("repeat", 0)) + 1
            breach = due[0]  # the criterion that has held longest: the true reason
            hit = breach.last
            held = t - breach.since
            reason = breach.reason(held, policy)
            payload = {"component": comp, "criterion": hit.name, "value": hit.value, "threshold": hit.threshold,
                       "held_s": round(held, 1), "low": breach.low, "high": breach.high, "mode": policy.mode,
                       "reason": reason, "window_s": policy.window_seconds, "evidence": hit.detail,
                       "present": e.store.actor.operator, **({"repeat": repeat} if repeat else {})}
            with e.acting_as(POLICY):  # the policy acts, not the person at the console (named as present)
                try:
                    await e.record("rollback.proposed", comp, payload)
                except Exception:  # noqa: BLE001 - not proposed until it is on record: tried again next second
                    continue
            self.fired.add(comp)  # after its event: a failed write leaves the policy armed
            self._proposed_at[comp] = t
            if policy.mode == "auto":
                await self._roll_back(comp, reason, t)

    async def _roll_back(self, comp: str, reason: str, t: float) -> None:
        """The policy's rollback of `comp`. One that cannot run is tried again with backoff (2 s doubling to
        60 s) and said once per cause, as a critical alert naming what blocks it and where the flag still is."""
        from mdm_console.engine.core import POLICY
        from mdm_console.engine.rollback import RollbackRequest

        from mdm_console.engine.effects import lowers_traffic

        e = self.engine
        with e.acting_as(POLICY):
            try:
                if any(lowers_traffic(p) for p in e.state.open_intents.values()):
                    await e.rollback.resume_interrupted()  # one the start could not finish: tried again with this
                await e.rollback.run(RollbackRequest("component", component=comp, reason=reason, automatic=True))
            except Exception as exc:  # noqa: BLE001 - said once per cause; tried again while the criterion holds
                before = self.blocked.get(comp)
                delay = RETRY_FIRST_S if before is None else min(before.delay * 2, RETRY_MAX_S)
                error = " ".join(str(exc).split())[:500] or type(exc).__name__
                self.blocked[comp] = Blocked(t + delay, delay, error, reason)
                if before is not None and before.error == error:
                    return
                st = e.state.components[comp]
                await self._record_quietly("rollback.auto_failed", {"component": comp, "error": error,
                                                                    "reason": reason, "retry_s": delay}, comp)
                await self._record_quietly("alert.raised", {
                    "alert": BLOCKED_ALERT + comp, "level": "critical", "component": comp,
                    "message": f"ROLLBACK PENDING: {comp} is still at {st.stage} ({st.percent:g} %): {error}; the "
                               f"policy tries again (backoff up to {RETRY_MAX_S:g} s) while its criterion holds"},
                    comp)
            else:
                await self._unblock(comp, f"{comp} was rolled back")

    async def _unblock(self, comp: str, why: str) -> None:
        self.blocked.pop(comp, None)
        if BLOCKED_ALERT + comp in self.engine.state.alerts:
            from mdm_console.engine.core import POLICY

            with self.engine.acting_as(POLICY):
                await self._record_quietly("alert.cleared", {"alert": BLOCKED_ALERT + comp, "message": why}, comp)

    # ---- storing -----------------------------------------------------------------------------------
    async def store_aggregates(self) -> None:
        self._last_store = time.time()
        rows = []
        # Every changed bucket, open ones too: the stored feed position covers all they hold.
        buckets = self.windows.unstored(float("inf"))
        for b in buckets:
            method = "sketch (±1 %)" if b.sketch.count else "reported" if b.reported_p99 is not None else None
            rows.append((datetime.fromtimestamp(b.start, UTC).replace(tzinfo=None), b.component, b.variant, b.ops,
                         b.success, b.error, b.sketch.quantile(0.5), b.sketch.quantile(0.95),
                         b.sketch.quantile(0.99) if b.sketch.count else b.reported_p99, method))
        positions = []
        if isinstance(self.feed, JsonlFeed):
            async with self._read_lock:  # the position must match what the windows hold
                p = self.feed.resume_offset()
            positions.append(("jsonl", p.dev, p.ino, p.offset))
        # A quiet feed has not moved: no write every 5 s for nothing (the idle console's CPU).
        positions = [q for q in positions if self._saved_positions.get(q[0]) != q[1:]]
        if rows or positions:
            try:
                await self.engine.store.acall(mstore.save(rows, positions))
            except BaseException:  # a cancelled pass too (the console stopping): stored by the stop's own pass
                self.windows.requeue(buckets)  # kept in memory and stored by a later pass (rows replace by key)
                raise
            self._saved_positions.update((q[0], q[1:]) for q in positions)
        self.windows.compact(time.time())
