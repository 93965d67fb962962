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
    def __init__(self, rows: dict[str, tuple], interval: float, now: datetime):
        self.rows = rows
        self.interval = interval
        self.now = now

    @classmethod
    async def load(cls, engine: Engine) -> StoredHealth | None:
        if engine.plan.metrics.source == "none":
            return None
        since = {c.id: engine.rollout.stage_since(c.id) for c in engine.plan.components}
        rows = await engine.store.acall(metrics.stage_counters(since))
        return cls(rows, engine.plan.metrics.interval_seconds, engine.now())

    def stage_counters(self, component: str, since: datetime) -> StageCounters | None:
        ops, success, error, newest, unknown = self.rows.get(component, (0, 0, 0, None, 0))
        if newest is None:
            return StageCounters(0, 0, 0, None, "no metrics recorded in this session (the console stores them)")
        newest_end = newest.replace(tzinfo=UTC) + timedelta(seconds=BUCKET_SECONDS)
        age = (self.now - newest_end).total_seconds()
        stale = None
        if age > STALE_INTERVALS * max(self.interval, BUCKET_SECONDS):
            stale = f"the newest stored metrics are {age:.0f} s old (is the console running?)"
        return StageCounters(int(ops), int(success), int(error), newest_end, stale, int(unknown))
