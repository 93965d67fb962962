"""Per-component health windows, built from 5-second buckets split by variant.

Every bucket keeps counts and a latency sketch; a window is the merge of the buckets in
its span. The buckets' counts, kept for the whole session, give the counters since a stage
began (the gates' input) and are what the session store keeps (one row per component,
variant and 5 s), so the log stays small and plots can be redrawn after a restart.

Once a bucket is older than the window and stored, its counts are folded into columns
(`Folded`: ~48 bytes a bucket instead of ~450 as an object with its sketch), so a console
left open for days grows by kilobytes an hour, and per-second reads walk the window only.
"""

from __future__ import annotations

import math
import time as _time
from array import array
from bisect import bisect_left
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime

from mdm_console.feeds.base import StageCounters
from mdm_console.feeds.parse import BUCKET_SECONDS, Sample, Tally
from mdm_console.feeds.sketch import Sketch

NEW, OLD, ALL = "new", "old", "all"


@dataclass(slots=True)  # ~4 300 an hour for a 3-component feed; folded once the window has left them
class Bucket:
    start: int  # epoch seconds, a multiple of BUCKET_SECONDS
    component: str
    variant: str  # new | old | all (a feed that does not say)
    ops: int = 0
    success: int = 0
    error: int = 0
    sketch: Sketch = field(default_factory=Sketch)
    reported_p99: float | None = None  # from aggregate lines: they carry a p99, not samples
    last_ts: float = 0.0  # newest sample time in the bucket
    stored: bool = False


class Folded:
    """The counts of one component's and variant's folded buckets, as columns sorted by start."""

    __slots__ = ("start", "ops", "success", "error", "p99")

    def __init__(self) -> None:
        self.start, self.ops, self.success, self.error = array("q"), array("q"), array("q"), array("q")
        self.p99 = array("d")  # reported p99, NaN when none

    def append(self, b: Bucket) -> None:
        self.add(b.start, b.ops, b.success, b.error, b.reported_p99)

    def add(self, start: int, ops: int, success: int, error: int, p99: float | None) -> None:
        """One bucket's counts (a bucket the window left, or a stored one as it is restored), kept in start order."""
        p99 = math.nan if p99 is None else p99
        if self.start and start <= self.start[-1]:  # a bucket revived by a late line, folded again
            i = bisect_left(self.start, start)
            for col, v in zip(self._columns(), (start, ops, success, error, p99), strict=True):
                col.insert(i, v)
            return
        self.start.append(start)  # in order (every fold, every restored row): no tuple, no loop
        self.ops.append(ops)
        self.success.append(success)
        self.error.append(error)
        self.p99.append(p99)

    def pop(self, start: int) -> tuple[int, int, int, float | None] | None:
        """Take out the counts of the bucket at `start` (a late line revives it), if folded here."""
        i = bisect_left(self.start, start)
        if i == len(self.start) or self.start[i] != start:
            return None
        out = tuple(col.pop(i) for col in self._columns())[1:]
        return out[0], out[1], out[2], None if math.isnan(out[3]) else out[3]

    def since(self, first: int) -> tuple[int, int, int]:
        i = bisect_left(self.start, first)
        return sum(self.ops[i:]), sum(self.success[i:]), sum(self.error[i:])

    def _columns(self):
        return self.start, self.ops, self.success, self.error, self.p99


@dataclass(frozen=True)
class PathStats:
    """One path's figures over a span: the new code path, the old one, or operations whose feed did not
    say which ("unknown": gates and verdicts cannot use them, alerts judge them as both paths blended)."""

    path: str  # new | old | unknown
    seconds: float  # the span the figures cover, ending now
    ops: int = 0
    errors: int = 0
    p99_ms: float | None = None
    p99_method: str = "none"  # "sketch (±1 %)" | "max of reported p99" | "none"

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.ops if self.ops else None

    @property
    def success_rate(self) -> float | None:
        return 1 - self.errors / self.ops if self.ops else None


PATH_OF = {NEW: "new", OLD: "old", ALL: "unknown"}


class _Running:
    """One component's window as running sums (a sliding window): a bucket the window reaches adds its counts and
    sketch, a bucket it leaves takes them out again, and a line into a bucket inside it adds its own. Figures are
    made from these sums (one per path), not by merging every bucket's sketch again each time the window moves
    (every 5 s, for every component)."""

    __slots__ = ("first", "last", "counts", "sketches", "reports", "version")

    def __init__(self, first: int, last: int) -> None:
        self.first, self.last = first, last  # bucket starts covered, both included
        self.counts: dict[str, list[int]] = {}  # variant -> [ops, success, error]
        self.sketches: dict[str, Sketch] = {}
        # variant -> at least as many as the window's buckets with a reported p99 (none: no need to look for one)
        self.reports: dict[str, int] = {}
        self.version = 0  # moves with every change: the figures made at a version stay true until it moves

    def take(self, variant: str, ops: int, success: int, error: int, sketch: Sketch | None = None,
             latency: float | None = None, reported: bool = False) -> None:
        c = self.counts.get(variant)
        if c is None:
            c = self.counts[variant] = [0, 0, 0]
            self.sketches[variant] = Sketch()
        c[0] += ops
        c[1] += success
        c[2] += error
        if sketch is not None and sketch.count:
            self.sketches[variant].merge(sketch)
        if latency is not None:
            self.sketches[variant].add(latency)
        if reported:
            self.reports[variant] = self.reports.get(variant, 0) + 1
        self.version += 1

    def put(self, b: Bucket, sign: int) -> None:
        """A whole bucket comes into the window (+1) or leaves it (-1)."""
        if sign > 0:
            self.take(b.variant, b.ops, b.success, b.error, b.sketch, reported=b.reported_p99 is not None)
            return
        c = self.counts[b.variant]
        c[0] -= b.ops
        c[1] -= b.success
        c[2] -= b.error
        if b.sketch.count:
            self.sketches[b.variant].subtract(b.sketch)
        if b.reported_p99 is not None:
            self.reports[b.variant] -= 1
        self.version += 1


@dataclass(frozen=True)
class WindowStats:
    component: str
    ops: int
    success: int
    error: int
    ops_per_s: float
    success_rate: float | None
    error_rate: float | None
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None
    p99_method: str  # "sketch (±1 %)" | "max of reported p99" | "none"
    measured_at: datetime | None  # newest sample
    stale_reason: str | None
    window_seconds: float = 0.0
    paths: dict[str, PathStats] = field(default_factory=dict)  # new | old | unknown, each always there
    policy: PathStats | None = None  # the new path (or both, blended) over the auto-rollback policy's own window

    @property
    def new(self) -> PathStats:
        return self.paths["new"]

    @property
    def old(self) -> PathStats:
        return self.paths["old"]

    @property
    def unknown(self) -> PathStats:
        return self.paths["unknown"]

    @property
    def primary(self) -> PathStats:
        """The figures that speak for the new code: the new path's, or (a feed without variants) the
        blended ones, which say so (path "unknown")."""
        return self.new if self.new.ops or not self.unknown.ops else self.unknown


class Windows:
    """All buckets of the session, per component; thread-free, called from the event loop."""

    def __init__(self, components: list[str], window_seconds: float):
        self.components = list(components)
        self.window_seconds = window_seconds
        self.buckets: dict[tuple[int, str, str], Bucket] = {}
        self._stale: dict[str, str] = {}  # component -> why its feed is stale
        # Moves with every line (a revived bucket's included), restore and change of staleness: with the window's
        # bucket it keys every component's figures (`figures_key`), so a screen can tell that none changed without
        # asking. Folding takes only buckets the window left two buckets ago: no figure changes with it.
        self.changes = 0
        self.late_changes = 0  # lines into buckets that had closed (the verdict judges closed buckets once each)
        # Indexes, so that per-second reads cost the window, not the whole session:
        self._by_start: dict[str, dict[int, list[Bucket]]] = {c: {} for c in self.components}
        self._newest: dict[str, float] = {}
        self._dirty: dict[tuple[int, str, str], Bucket] = {}  # changed since last stored
        self._compacted: dict[str, int] = {}  # bucket start up to which buckets were folded
        self.folded: dict[tuple[str, str], Folded] = {}  # (component, variant) -> counts of folded buckets
        self._revived: list[Bucket] = []  # folded buckets a late line brought back, folded again once stored
        self.unknown_ops = 0  # operations whose line gave no variant, since the console started (shown)
        # A component's figures change only when a line reaches its window or the window moves a bucket on: they
        # are kept per component with the running window's version they were made at (a screen and the monitor
        # read all N components every second).
        self._running: dict[str, _Running] = {}  # component -> its window as running sums (`stats`)
        self._stats_memo: dict[str, tuple[_Running, tuple, WindowStats]] = {}
        # component -> the first bucket of its evidence: its current stage's (`set_since`). Figures, the policy's
        # window and the latency sketches never reach before it, so nothing judges one stage on another's data.
        self._since: dict[str, int] = {}

    def set_since(self, component: str, ts: float | None) -> None:
        """The component's evidence starts at `ts` (its stage began): from the first whole bucket at or after it,
        so that no bucket mixing the stage before is judged as this one (up to one bucket of the stage is left
        out). None: no limit."""
        first = None if ts is None else int(-(-ts // BUCKET_SECONDS) * BUCKET_SECONDS)
        if self._since.get(component) != first:
            if first is None:
                self._since.pop(component, None)
            else:
                self._since[component] = first
            self.changes += 1

    def since(self, component: str) -> int | None:
        """Where the component's evidence starts (epoch seconds of a bucket start), if it is limited."""
        return self._since.get(component)

    def _start(self, component: str, t: float) -> float:
        """The earliest time a span ending at `t` of the component's evidence may reach back to."""
        return max(t, self._since.get(component, t))

    @property
    def stale(self) -> dict[str, str]:
        return self._stale

    @stale.setter
    def stale(self, reasons: dict[str, str]) -> None:
        """Set as a whole (the monitor sets it every second): a change of any component's reason moves `changes`."""
        if reasons != self._stale:
            self.changes += 1
        self._stale = reasons

    def figures_key(self, now: float) -> tuple[int, int]:
        """Equal for two reads only if no component's `stats` can differ between them: no line came and nothing was
        restored into the buckets, no staleness changed, and the window has not moved on a bucket."""
        return self.changes, int(now // BUCKET_SECONDS)

    def bucket(self, ts: float, component: str, variant: str) -> Bucket:
        start = int(ts // BUCKET_SECONDS * BUCKET_SECONDS)
        key = (start, component, variant)
        b = self.buckets.get(key)
        if b is None:
            b = self.buckets[key] = Bucket(start, component, variant)
            self._by_start.setdefault(component, {}).setdefault(start, []).append(b)
            if start < self._compacted.get(component, 0):  # a late line, behind the folding: fold it once stored
                self._revived.append(b)
                folded = self.folded.get((component, variant))
                counts = folded.pop(start) if folded is not None else None
                if counts is not None:  # its bucket was folded: the counts come back, the store gets the sum
                    b.ops, b.success, b.error, b.reported_p99 = counts
                    self._unslide(b)
        return b

    def _unslide(self, b: Bucket) -> None:
        """A bucket folded, or brought back with its folded counts, inside a running window: the window is made
        again from its buckets on the next read (a folded bucket's sketch is gone, so it cannot be taken out)."""
        if self._inside(b) is not None:
            del self._running[b.component]

    def _inside(self, b: Bucket) -> _Running | None:
        """The running window that holds `b`, if one does (a line into it adds to the sums at once)."""
        r = self._running.get(b.component)
        return r if r is not None and r.first <= b.start <= r.last else None

    def _touched(self, b: Bucket, ts: float) -> None:
        self.changes += 1
        if b.start + BUCKET_SECONDS <= _time.time():  # a line into a closed bucket: what was judged on it moved
            self.late_changes += 1
        b.last_ts = max(b.last_ts, ts)
        b.stored = False
        self._dirty[(b.start, b.component, b.variant)] = b
        if ts > self._newest.get(b.component, 0.0):
            self._newest[b.component] = ts

    def add(self, s: Sample) -> None:
        """The sink of every feed."""
        if s.variant == ALL:
            self.unknown_ops += s.success + s.error
        if s.single:
            self.add_op(s.ts, s.component, s.error == 0, s.latency_ms, s.variant)
        else:
            self.add_aggregate(s.ts, s.component, s.success, s.error, s.p99_ms, s.variant)

    def add_tally(self, t: Tally) -> None:
        """The sink of the JSONL feed: a batch's lines of one bucket, summed in the feed's thread."""
        if t.variant == ALL:
            self.unknown_ops += t.ops
        b = self.bucket(t.start, t.component, t.variant)
        b.ops += t.ops
        b.success += t.success
        b.error += t.error
        if t.sketch.count:
            _own_sketch(b).merge(t.sketch)
        if t.reported_p99 is not None:
            b.reported_p99 = max(b.reported_p99 or 0.0, t.reported_p99)
        if (r := self._inside(b)) is not None:
            r.take(t.variant, t.ops, t.success, t.error, t.sketch, reported=t.reported_p99 is not None)
        self._touched(b, t.last_ts)

    def add_op(self, ts: float, component: str, ok: bool, latency_ms: float | None, variant: str) -> None:
        b = self.bucket(ts, component, variant)
        b.ops += 1
        if ok:
            b.success += 1
        else:
            b.error += 1
        if latency_ms is not None:
            _own_sketch(b).add(latency_ms)
        if (r := self._inside(b)) is not None:
            r.take(variant, 1, int(ok), int(not ok), latency=latency_ms)
        self._touched(b, ts)

    def add_aggregate(self, ts: float, component: str, success: int, error: int, p99: float | None,
                      variant: str) -> None:
        b = self.bucket(ts, component, variant)
        b.ops += success + error
        b.success += success
        b.error += error
        if p99 is not None:
            b.reported_p99 = max(b.reported_p99 or 0.0, p99)
        if (r := self._inside(b)) is not None:
            r.take(variant, success + error, success, error, reported=p99 is not None)
        self._touched(b, ts)

    def restore(self, rows: list[tuple], now: float | None = None) -> None:
        """Buckets loaded from the store, (start in epoch seconds, component, variant, ops, success, error, p99),
        oldest first; a component the plan no longer has is left out. One pass, as many rows as the session
        stored (13 000 for 400 components after a few minutes, 576 000 after an hour; the start of every command
        and console). With `now`, the buckets the window no longer covers go straight into the folded columns, as
        `compact` would put them (an hour of 400 components made 576 000 Bucket objects first: seconds and
        hundreds of MiB, docs/investigations.md); the others share one empty sketch until a line brings them a
        sample (`_own_sketch`)."""
        buckets, index, newest, folded = self.buckets, self._by_start, self._newest, self.folded
        known = set(self.components)
        self.changes += 1
        self._running.clear()  # made again from the buckets on the next read
        end = BUCKET_SECONDS - 1e-3
        horizon = -math.inf if now is None else self._horizon(now)
        for start, comp, variant, ops, success, error, p99 in rows:
            if comp not in known:
                continue
            key = (start, comp, variant)
            last_ts = start + end
            if last_ts > newest.get(comp, 0.0):
                newest[comp] = last_ts
            b = buckets.get(key)
            if b is None and start < horizon:
                f = folded.get((comp, variant))
                if f is None:
                    f = folded[(comp, variant)] = Folded()
                f.add(start, ops, success, error, p99)
                self._compacted[comp] = horizon
            elif b is None:
                b = buckets[key] = Bucket(start, comp, variant, ops, success, error, _NO_SAMPLES, p99, last_ts, True)
                index.setdefault(comp, {}).setdefault(start, []).append(b)
            else:
                b.ops, b.success, b.error, b.reported_p99, b.last_ts, b.stored = ops, success, error, p99, last_ts, True

    def _horizon(self, now: float) -> int:
        """The start below which buckets are folded: out of the window, with two buckets to spare."""
        horizon = int(now - self.window_seconds - 2 * BUCKET_SECONDS)
        return horizon - horizon % BUCKET_SECONDS

    def _select(self, component: str, since: float, until: float, variants: set[str] | None = None):
        starts = self._by_start.get(component, {})
        if not starts:
            return []
        first = int(since // BUCKET_SECONDS * BUCKET_SECONDS)
        last = min(int(until // BUCKET_SECONDS * BUCKET_SECONDS) if until != float("inf") else max(starts),
                   max(starts))
        if (last - first) // BUCKET_SECONDS > len(starts):  # a long span: walking the index is cheaper
            keys = [s for s in starts if first <= s <= last]
        else:
            keys = range(first, last + 1, BUCKET_SECONDS)
        return [b for s in keys for b in starts.get(s, ()) if variants is None or b.variant in variants]

    def stats(self, component: str, now: datetime) -> WindowStats:
        """The component's figures over the window ending at `now`: made again only when a line reached the window
        or the window took in or let go of a bucket, or (an empty window dates its figures by the newest sample
        outside it) a line came outside it: the same object otherwise."""
        r = self._slide(component, now.timestamp())
        stale = self.stale.get(component)
        memo = self._stats_memo.get(component)
        key = (r.version, r.first, r.last, self._newest.get(component))
        if memo is None or memo[0] is not r or memo[1] != key:
            memo = self._stats_memo[component] = (r, key, self._figures(component, r))
        if memo[2].stale_reason != stale:  # its words change every second ("no data for 16 s")
            memo = self._stats_memo[component] = (*memo[:2], replace(memo[2], stale_reason=stale))
        return memo[2]

    def _slide(self, component: str, t: float) -> _Running:
        """The component's running window moved to end at `t`: the buckets it leaves taken out, those it reaches
        added. Made afresh the first time, when time went back, after a long gap, or when folding reached into it
        (`_unslide`)."""
        first = int(self._start(component, t - self.window_seconds) // BUCKET_SECONDS * BUCKET_SECONDS)
        last = int(t // BUCKET_SECONDS * BUCKET_SECONDS)
        starts = self._by_start.get(component, {})
        r = self._running.get(component)
        if r is not None and (first < r.first or last < r.last or last - r.last > self.window_seconds):
            r = None
        if r is None:
            r = self._running[component] = _Running(first, last)
            for s in range(first, last + BUCKET_SECONDS, BUCKET_SECONDS):
                for b in starts.get(s, ()):
                    r.put(b, +1)
            return r
        if first == r.first and last == r.last:
            return r
        for s in range(r.first, min(first, r.last + BUCKET_SECONDS), BUCKET_SECONDS):
            for b in starts.get(s, ()):
                r.put(b, -1)
        for s in range(max(r.last + BUCKET_SECONDS, first), last + BUCKET_SECONDS, BUCKET_SECONDS):
            for b in starts.get(s, ()):
                r.put(b, +1)
        r.first, r.last = first, last
        return r

    def _figures(self, component: str, r: _Running) -> WindowStats:
        # The span the figures cover: the window, or less while the stage is younger than it.
        seconds = max(float(BUCKET_SECONDS), min(self.window_seconds, float(r.last + BUCKET_SECONDS - r.first)))
        none = (0, 0, 0)
        paths, ops, success, error = {}, 0, 0, 0
        sk = Sketch()
        for variant, (o, s, e) in r.counts.items():
            ops, success, error = ops + o, success + s, error + e
        for variant in (NEW, OLD, ALL):
            o, _, e = r.counts.get(variant, none)
            part = r.sketches.get(variant)
            if part is not None and part.count:
                p99, method = part.quantile(0.99), "sketch (±1 %)"
                sk.merge(part)
            elif (reported := self._reported_in(component, r, variant)) is not None:
                p99, method = reported, "max of reported p99"
            else:
                p99, method = None, "none"
            paths[PATH_OF[variant]] = PathStats(PATH_OF[variant], seconds, o, e, p99, method)
        if sk.count:
            (p50, p95, p99), method = sk.quantiles(0.5, 0.95, 0.99), "sketch (±1 %)"
        elif (reported := self._reported_in(component, r)) is not None:
            p50, p95, p99, method = None, None, reported, "max of reported p99"
        else:
            p50 = p95 = p99 = None
            method = "none"
        newest = self._newest_in(component, r) or self.newest(component)
        return WindowStats(
            component, ops, success, error, ops / seconds, success / ops if ops else None,
            error / ops if ops else None, p50, p95, p99, method,
            datetime.fromtimestamp(newest, UTC) if newest else None, None, seconds, paths)

    def _reported_in(self, component: str, r: _Running, variant: str | None = None) -> float | None:
        """The highest p99 the window's aggregate lines reported (of one path, or of all)."""
        if not any(n for v, n in r.reports.items() if variant is None or v == variant):
            return None
        return _reported([b for b in self._select(component, r.first, r.last + BUCKET_SECONDS - 1e-3)
                          if variant is None or b.variant == variant])

    def _newest_in(self, component: str, r: _Running) -> float:
        """The newest sample time in the window: in its newest bucket that has any (buckets follow each other)."""
        newest = self._newest.get(component, 0.0)  # the component's newest of all: in the window, or before it
        if newest < r.first:
            return 0.0  # no sample in the window (a bucket's samples are not older than its start)
        if newest < r.last + BUCKET_SECONDS:
            return newest
        starts = self._by_start.get(component, {})  # a line dated ahead of the clock: look bucket by bucket
        for s in range(r.last, r.first - BUCKET_SECONDS, -BUCKET_SECONDS):
            newest = max((b.last_ts for b in starts.get(s, ())), default=0.0)
            if newest:
                return newest
        return 0.0

    def path(self, component: str, variant: str, now: float, seconds: float) -> PathStats:
        """One path's figures over the last `seconds` of the current stage (whole 5-s buckets: up to one bucket
        more; less while the stage is younger)."""
        since = self._start(component, now - seconds)
        return _path(PATH_OF[variant], min(seconds, max(float(BUCKET_SECONDS), now - since)),
                     self._select(component, since, now, {variant}))

    def newest(self, component: str) -> float:
        return self._newest.get(component, 0.0)

    def stage_counters(self, component: str, since: datetime) -> StageCounters:
        """Operations on the new path since `since`; those whose feed gave no variant are counted apart
        (`unknown`): the gates judge the new path and cannot tell them apart."""
        counts = self.since_counts(component, since)
        newest = self.newest(component)
        return StageCounters(*counts[NEW], datetime.fromtimestamp(newest, UTC) if newest else None,
                             self.stale.get(component), unknown=counts[ALL][0])

    def since_counts(self, component: str, since: datetime) -> dict[str, tuple[int, int, int]]:
        """(ops, success, error) per variant (new, old, all) since `since`, folded buckets included."""
        first = int(since.timestamp() // BUCKET_SECONDS * BUCKET_SECONDS)
        counts = {}
        for variant in (NEW, OLD, ALL):
            chosen = self._select(component, since.timestamp(), float("inf"), {variant})
            ops, success, error = sum(b.ops for b in chosen), sum(b.success for b in chosen), sum(b.error for b in chosen)
            if (folded := self.folded.get((component, variant))) is not None:
                o, s, e = folded.since(first)
                ops, success, error = ops + o, success + s, error + e
            counts[variant] = (ops, success, error)
        return counts

    def strata(self, component: str, since: float, until: float) -> dict[int, tuple[int, int, int, int]]:
        """Per 5 s bucket from the one holding `since` to the last one that ends by `until`: (new-path ops, new-path
        errors, old-path ops, old-path errors), folded buckets included (the verdict's intervals)."""
        first = int(since // BUCKET_SECONDS * BUCKET_SECONDS)
        out: dict[int, list[int]] = {}
        for col, variant in ((0, NEW), (2, OLD)):
            f = self.folded.get((component, variant))
            if f is not None:
                i = bisect_left(f.start, first)
                for start, ops, err in zip(f.start[i:], f.ops[i:], f.error[i:], strict=True):
                    if start + BUCKET_SECONDS <= until:
                        row = out.setdefault(start, [0, 0, 0, 0])
                        row[col] += ops
                        row[col + 1] += err
            for b in self._select(component, since, until, {variant}):
                if b.start + BUCKET_SECONDS <= until:
                    row = out.setdefault(b.start, [0, 0, 0, 0])
                    row[col] += b.ops
                    row[col + 1] += b.error
        return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}

    def bucket_sketches(self, component: str, since: float, until: float) -> dict[int, tuple[Sketch, Sketch]]:
        """Per closed 5 s bucket still holding its samples (inside the window): the old and new paths' sketches."""
        out: dict[int, list] = {}
        for b in self._select(component, since, until, {NEW, OLD}):
            if b.start + BUCKET_SECONDS <= until and b.sketch.count:
                out.setdefault(b.start, [_NO_SAMPLES, _NO_SAMPLES])[0 if b.variant == OLD else 1] = b.sketch
        return {k: (v[0], v[1]) for k, v in out.items()}

    def sketch(self, component: str, variant: str, now: float, seconds: float | None = None) -> Sketch:
        """The latencies of one path over the window (or the last `seconds`) of the current stage, merged."""
        span = self.window_seconds if seconds is None else seconds
        return _merged(self._select(component, self._start(component, now - span), now, {variant}))

    def in_window(self, component: str, now: float) -> list[Bucket]:
        """The buckets a window ending at `now` covers (plots)."""
        return self._select(component, now - self.window_seconds, now)

    def compact(self, now: float) -> None:
        """Fold the stored buckets the window no longer covers: their counts stay for the gates, their
        samples go. Walks only the buckets that fell out of the window since the last call.
        """
        horizon = self._horizon(now)
        for comp, starts in self._by_start.items():
            if not starts:
                continue
            start = self._compacted.get(comp, min(starts))
            while start < horizon:
                if any(not b.stored for b in starts.get(start, ())):
                    break  # not stored yet: keep it, come back to it next time
                for b in starts.pop(start, ()):
                    self._fold(b)
                start += BUCKET_SECONDS
            self._compacted[comp] = start
        if self._revived:
            for b in [b for b in self._revived if b.stored]:
                self._revived.remove(b)
                self._by_start[b.component][b.start].remove(b)
                if not self._by_start[b.component][b.start]:
                    del self._by_start[b.component][b.start]
                self._fold(b)

    def _fold(self, b: Bucket) -> None:
        self._unslide(b)
        del self.buckets[(b.start, b.component, b.variant)]
        self.folded.setdefault((b.component, b.variant), Folded()).append(b)

    def unstored(self, before: float) -> list[Bucket]:
        """Closed buckets (ended before `before`) that the store does not have yet."""
        out = [b for b in self._dirty.values() if b.start + BUCKET_SECONDS <= before]
        for b in out:
            b.stored = True
            del self._dirty[(b.start, b.component, b.variant)]
        return out


    def requeue(self, buckets: list[Bucket]) -> None:
        """Buckets whose store pass failed: to be stored again by the next pass."""
        for b in buckets:
            b.stored = False
            self._dirty[(b.start, b.component, b.variant)] = b


_NO_SAMPLES = Sketch()  # the sketch of every restored bucket (the store keeps counts, not samples): never added to


def _own_sketch(b: Bucket) -> Sketch:
    """The bucket's sketch, its own from the first sample on (a restored bucket shares `_NO_SAMPLES` until then)."""
    if b.sketch is _NO_SAMPLES:
        b.sketch = Sketch()
    return b.sketch


def _path(path: str, seconds: float, part: list[Bucket], sk: Sketch | None = None) -> PathStats:
    sk = _merged(part) if sk is None else sk
    if sk.count:
        p99, method = sk.quantile(0.99), "sketch (±1 %)"
    elif (reported := _reported(part)) is not None:
        p99, method = reported, "max of reported p99"
    else:
        p99, method = None, "none"
    return PathStats(path, seconds, sum(b.ops for b in part), sum(b.error for b in part), p99, method)


def _merged(buckets: list[Bucket]) -> Sketch:
    return _merged_sketches(b.sketch for b in buckets)


def _merged_sketches(sketches) -> Sketch:
    sk = Sketch()
    for other in sketches:
        if other.count:
            sk.merge(other)
    return sk


def _reported(buckets: list[Bucket]) -> float | None:
    values = [b.reported_p99 for b in buckets if b.reported_p99 is not None]
    return max(values) if values else None
