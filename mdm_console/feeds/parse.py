"""Metric lines (DESIGN section 4): one operation or one aggregate per JSON object.

`parse_line` returns a `Sample` or raises `BadLine` with a short reason; the feed counts
bad lines and keeps the last one to show. Nothing bad reaches the windows.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from datetime import datetime

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
