"""Metric lines (DESIGN section 4): one operation or one aggregate per JSON object.

`parse_line` returns a `Sample` or raises `BadLine` with a short reason; the feed counts
bad lines and keeps the last one to show. Nothing bad reaches the windows.

`tally_lines` reads a batch of lines (the JSONL feed's, in its thread) into one `Tally` per 5-s bucket, component
and path: a typed msgspec decoder reads a well-formed line; any line it does not take goes through `parse_line`,
which is the definition of what a line means (it gives the bad line's reason, or the sample of a line only it
reads). The windows then take one tally per bucket, not one call per line on the event loop.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Annotated, Literal

import msgspec

from mdm_console.feeds.sketch import Sketch

MAX_FUTURE_S = 300  # clocks drift; a line from further ahead is a bug, not a measurement
MAX_PAST_S = 7 * 24 * 3600
MAX_LATENCY_MS = 24 * 3600 * 1000
# One line or one scrape counts at most this many operations: 2 000 000 a second for 5 s. A larger
# count is a bug (or an attack) upstream, and taken at face value it would swamp every rate.
MAX_COUNT = 10_000_000


class BadLine(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class Sample:
    ts: float  # epoch seconds
    component: str
    variant: str  # new | old | all
    success: int
    error: int
    latency_ms: float | None  # one operation's latency
    p99_ms: float | None  # an aggregate's reported p99
    single: bool  # one operation (True) or an aggregate line


def _reject_constant(name: str):
    raise BadLine(f"{name} is not a number")


_decode = json.JSONDecoder(parse_constant=_reject_constant).decode


def _ts(value, now: float) -> float:
    if not isinstance(value, str):
        raise BadLine("ts is not an ISO 8601 string")
    try:
        dt = datetime.fromisoformat(value)
    except ValueError:
        raise BadLine(f"ts {value[:40]!r} is not ISO 8601") from None
    if dt.tzinfo is None:
        raise BadLine("ts has no time zone (use Z or +00:00)")
    t = dt.timestamp()
    if t > now + MAX_FUTURE_S:
        raise BadLine(f"ts is {t - now:.0f} s in the future")
    if t < now - MAX_PAST_S:
        raise BadLine(f"ts is {(now - t) / 86400:.1f} days old")
    return t


def _count(d: dict, key: str) -> int:
    v = d.get(key, 0)
    if isinstance(v, bool) or not isinstance(v, int) or v < 0:
        raise BadLine(f"{key} must be a non-negative integer")
    if v > MAX_COUNT:
        raise BadLine(f"{key} {v} is over the per-line maximum of {MAX_COUNT}")
    return v


def check_count(v: float, what: str) -> int:
    """A count from a scrape or a query: finite, non-negative, at most MAX_COUNT (else BadLine)."""
    if not math.isfinite(v) or v < 0:
        raise BadLine(f"{what} {v} is not a finite non-negative number")
    if v > MAX_COUNT:
        raise BadLine(f"{what} {v:.3g} is over the per-scrape maximum of {MAX_COUNT}")
    return int(round(v))


def _latency(v, key: str) -> float | None:
    if v is None:
        return None
    if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
        raise BadLine(f"{key} must be a number")
    if v < 0:
        raise BadLine(f"{key} is negative")
    if v > MAX_LATENCY_MS:
        raise BadLine(f"{key} is over a day")
    return float(v)


def parse_line(line: str | bytes, components: frozenset[str] | set[str], now: float) -> Sample:
    try:
        d = _decode(line if isinstance(line, str) else line.decode("utf-8"))
    except UnicodeDecodeError:
        raise BadLine("not UTF-8") from None
    except ValueError as exc:
        if isinstance(exc, BadLine):
            raise
        raise BadLine("not JSON") from None
    except RecursionError:
        raise BadLine("nested too deeply") from None
    if not isinstance(d, dict):
        raise BadLine("not a JSON object")
    comp = d.get("component")
    if not isinstance(comp, str):
        raise BadLine("no component")
    if comp not in components:
        raise BadLine(f"unknown component {comp[:40]!r}")
    ts = _ts(d.get("ts"), now)
    variant = d.get("variant", "all")
    if variant not in ("new", "old", "all"):
        raise BadLine(f"variant {str(variant)[:20]!r} is not new or old")
    if "outcome" in d:
        outcome = d["outcome"]
        if outcome not in ("success", "error"):
            raise BadLine(f"outcome {str(outcome)[:20]!r} is not success or error")
        ok = outcome == "success"
        return Sample(ts, comp, variant, int(ok), int(not ok), _latency(d.get("latency_ms"), "latency_ms"), None,
                      True)
    if "success" in d or "error" in d:
        s, e = _count(d, "success"), _count(d, "error")
        return Sample(ts, comp, variant, s, e, None, _latency(d.get("latency_p99_ms"), "latency_p99_ms"), False)
    raise BadLine("neither an operation (outcome) nor an aggregate (success/error)")


BUCKET_SECONDS = 5


@dataclass(slots=True)
class Tally:
    """The lines of one bucket (start, component, path) in a batch, summed."""

    start: int
    component: str
    variant: str
    success: int = 0
    error: int = 0
    reported_p99: float | None = None  # the highest an aggregate line reported
    last_ts: float = 0.0
    sketch: Sketch = field(default_factory=Sketch)  # the single operations' latencies

    @property
    def ops(self) -> int:
        return self.success + self.error


_Count = Annotated[int, msgspec.Meta(ge=0, le=MAX_COUNT)]
_Latency = Annotated[float, msgspec.Meta(ge=0, le=MAX_LATENCY_MS)]


class _Line(msgspec.Struct, gc=False):
    """What a well-formed line holds. Stricter than `parse_line` where they differ (null for an outcome or a count,
    a bool for a number, a string for a count are refused here and judged there); other keys are ignored, as
    there."""

    component: str
    ts: str
    variant: Literal["new", "old", "all"] = "all"
    outcome: Literal["success", "error"] | msgspec.UnsetType = msgspec.UNSET
    latency_ms: _Latency | None = None
    success: _Count | msgspec.UnsetType = msgspec.UNSET
    error: _Count | msgspec.UnsetType = msgspec.UNSET
    latency_p99_ms: _Latency | None = None


_decode_line = msgspec.json.Decoder(_Line).decode
_UNSET = msgspec.UNSET


def tally_lines(lines: list[bytes], components: frozenset[str] | set[str], now: float,
                tallies: dict[tuple[int, str, str], Tally], bad: Callable[[bytes, str], None]) -> int:
    """Add every good line of `lines` to `tallies`; report each bad one to `bad(line, reason)`. Returns how many were
    good. A line is good or bad, and means, exactly what `parse_line` says."""
    good = 0
    last_stamp, last_t = None, 0.0
    earliest, latest = now - MAX_PAST_S, now + MAX_FUTURE_S
    latencies: dict[tuple[int, str, str], list[float]] = {}
    for line in lines:
        try:
            d = _decode_line(line)
            comp, stamp = d.component, d.ts
            if comp not in components:
                raise BadLine
            if stamp == last_stamp:
                t = last_t
            else:
                dt = datetime.fromisoformat(stamp)
                if dt.tzinfo is None:
                    raise BadLine
                t = dt.timestamp()
                if not earliest <= t <= latest:
                    raise BadLine
                last_stamp, last_t = stamp, t
            outcome = d.outcome
            if outcome is not _UNSET:
                ok = outcome == "success"
                success, error, latency, p99 = int(ok), int(not ok), d.latency_ms, None
            elif d.success is not _UNSET or d.error is not _UNSET:
                success = 0 if d.success is _UNSET else d.success
                error = 0 if d.error is _UNSET else d.error
                latency, p99 = None, d.latency_p99_ms
            else:
                raise BadLine
            variant = d.variant
        except Exception:  # noqa: BLE001 - not read here: parse_line says what it is
            try:
                s = parse_line(line, components, now)
            except BadLine as exc:
                bad(line, str(exc))
                continue
            except Exception as exc:  # noqa: BLE001 - one line never stops the feed
                bad(line, f"unreadable: {type(exc).__name__}")
                continue
            comp, t, variant = s.component, s.ts, s.variant
            success, error, latency, p99 = s.success, s.error, s.latency_ms, s.p99_ms
        key = (int(t // BUCKET_SECONDS * BUCKET_SECONDS), comp, variant)
        tally = tallies.get(key)
        if tally is None:
            tally = tallies[key] = Tally(*key)
        tally.success += success
        tally.error += error
        if latency is not None:
            lat = latencies.get(key)
            if lat is None:
                lat = latencies[key] = []
            lat.append(latency)
        if p99 is not None:
            tally.reported_p99 = p99 if tally.reported_p99 is None else max(tally.reported_p99, p99)
        if t > tally.last_ts:
            tally.last_ts = t
        good += 1
    for key, lat in latencies.items():
        tallies[key].sketch.add_many(lat)
    return good
