"""Gate inputs for headless commands: the aggregates the console stored, with their age.

A CLI `advance` does not run the feeds; it judges the gates on what the running console
stored. When nothing recent is stored the gates say so (stale), they never pass on old data.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from mdm_console.engine.gates import StageCounters
from mdm_console.feeds.base import STALE_INTERVALS
from mdm_console.feeds.windows import BUCKET_SECONDS
from mdm_console.store import metrics

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine


class StoredHealth:
    def __init__(self, rows: dict[str, tuple], interval: float, now: datetime, verdict_plan=None):
        self.rows = rows
        self.interval = interval
        self.now = now
        self.verdict_plan = verdict_plan

    @classmethod
    async def load(cls, engine: Engine) -> StoredHealth | None:
        if engine.plan.metrics.source == "none":
            return None
        since = {c.id: engine.rollout.stage_since(c.id) for c in engine.plan.components}
        rows = await engine.store.acall(metrics.stage_counters(since))
        return cls(rows, engine.plan.metrics.interval_seconds, engine.now(), engine.plan.verdict)

    def stage_counters(self, component: str, since: datetime) -> StageCounters | None:
        ops, success, error, newest, unknown, _, _ = self.rows.get(component, (0, 0, 0, None, 0, 0, 0))
        if newest is None:
            return StageCounters(0, 0, 0, None, "no metrics recorded in this session (the console stores them)")
        newest_end = newest.replace(tzinfo=UTC) + timedelta(seconds=BUCKET_SECONDS)
        age = (self.now - newest_end).total_seconds()
        stale = None
        if age > STALE_INTERVALS * max(self.interval, BUCKET_SECONDS):
            stale = f"the newest stored metrics are {age:.0f} s old (is the console running?)"
        return StageCounters(int(ops), int(success), int(error), newest_end, stale, int(unknown))

    def verdict(self, component: str):
        """The error-rate verdict on the stored counts since the stage began. The latency part needs the live
        sketches, which are not stored: headless, it is inconclusive and says so."""
        from mdm_console.verdict import INCONCLUSIVE, ComponentVerdict, LatencyVerdict, error_verdict

        v = self.verdict_plan
        ops, _, error, _, _, old_ops, old_error = self.rows.get(component, (0, 0, 0, None, 0, 0, 0))
        errors = error_verdict(int(ops), int(error), int(old_ops), int(old_error), alpha=v.alpha,
                               min_operations=v.min_operations, tolerance=v.error_tolerance)
        latency = LatencyVerdict(INCONCLUSIVE, None, None, None, None, None, 0, 0,
                                 needed="latency is judged live only (the console or service holds the sketches)") \
            if v.latency else None
        return ComponentVerdict(errors, latency)
