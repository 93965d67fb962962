"""What the owner measures, as data a client can draw: the health snapshot the event stream carries at most once
a second, and the objects a client rebuilds from it (the same classes the embedded console reads)."""

from __future__ import annotations

import dataclasses
import time
from datetime import datetime
from typing import Any

from mdm_console.engine.gates import GateResult
from mdm_console.feeds.system import SystemSample
from mdm_console.feeds.windows import PathStats, WindowStats
from mdm_console.verdict import ComponentVerdict, ErrorVerdict, LatencyVerdict


def snapshot(engine, monitor) -> dict[str, Any]:
    """Per component the window figures (both paths), the gates and the verdict; the feed; the host; the store."""
    comps: dict[str, Any] = {}
    for c in engine.plan.components:
        entry: dict[str, Any] = {"gates": [g.as_dict() for g in engine.rollout.gates(c.id)]}
        if monitor is not None:
            st = monitor.stats(c.id)
            entry["stats"] = _stats_dict(st)
            v = monitor.verdicts.get(c.id)
            entry["verdict"] = v.as_dict() if v else None
        comps[c.id] = entry
    out: dict[str, Any] = {"at": time.time(), "components": comps, "live": monitor is not None,
                           "store": {"lost": engine.store.lost, "write_error": engine.store.write_error,
                                     "sealed": engine.store.sealed is not None},
                           "running": sorted(engine.validation.running)}
    if monitor is not None:
        feed = monitor.feed.status if monitor.feed is not None else None
        out["feed"] = None if feed is None else {
            "name": feed.name, "interval": feed.interval, "good": feed.good, "bad": feed.bad, "error": feed.error,
            "last_bad": feed.last_bad, "last_bad_reason": feed.last_bad_reason, "age_s": feed.age(),
            "stale": feed.stale_reason()}
        out["unknown_ops"] = monitor.windows.unknown_ops
        sys_ = monitor.system
        out["host"] = None if sys_ is None or sys_.latest is None else {
            **dataclasses.asdict(sys_.latest), "interval": sys_.status.interval}
    return out


def _stats_dict(st: WindowStats) -> dict[str, Any]:
    d = dataclasses.asdict(st)
    d["measured_at"] = st.measured_at.isoformat() if st.measured_at else None
    return d


def stats_of(d: dict[str, Any]) -> WindowStats:
    d = dict(d)
    d["measured_at"] = datetime.fromisoformat(d["measured_at"]) if d.get("measured_at") else None
    d["paths"] = {k: PathStats(**v) for k, v in d.get("paths", {}).items()}
    d["policy"] = PathStats(**d["policy"]) if d.get("policy") else None
    return WindowStats(**d)


def verdict_of(d: dict[str, Any] | None) -> ComponentVerdict | None:
    if not d:
        return None
    return ComponentVerdict(ErrorVerdict(**d["errors"]), LatencyVerdict(**d["latency"]) if d.get("latency") else None)


def gates_of(items: list[dict[str, Any]]) -> list[GateResult]:
    return [GateResult(**g) for g in items]


def host_of(d: dict[str, Any] | None) -> SystemSample | None:
    if not d:
        return None
    return SystemSample(d["ts"], d["cpu_percent"], d["memory_percent"], d["disk_read_bps"], d["disk_write_bps"])


Series = dict[str, tuple[list[float], list[float], list[float]]]  # path -> seconds ago, error %, p99 ms
PATH_NAMES = {"new": "new path", "old": "old path", "all": "no variant"}


def series(monitor, component: str, now: datetime) -> Series:
    """Per path (new, old, and operations whose feed gave no variant), each 5 s bucket in the window of the current
    stage: seconds ago, error rate % and p99 ms. Two lines, so a failing canary is not hidden in the blend."""
    w = monitor.windows
    t_now = now.timestamp()
    since = max(t_now - w.window_seconds, w.since(component) or 0)  # the current stage's buckets, never the last's
    out: Series = {}
    for variant in ("new", "old", "all"):
        buckets = sorted((b for b in w.in_window(component, t_now) if b.start >= since and b.variant == variant),
                         key=lambda b: b.start)
        if not buckets:
            continue
        xs = [b.start - t_now for b in buckets]
        err = [100 * b.error / b.ops if b.ops else 0.0 for b in buckets]
        p99 = [(b.sketch.quantile(0.99) if b.sketch.count else b.reported_p99) or 0.0 for b in buckets]
        out[PATH_NAMES[variant]] = (xs, err, p99)
    return out
