"""What every metric feed reports about itself: data age, good and bad input counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from mdm_console.feeds.parse import Sample

STALE_INTERVALS = 3
Sink = Callable[[Sample], None]


@dataclass
class FeedStatus:
    name: str  # e.g. "jsonl metrics/ops.jsonl"
    interval: float
    last_data: float | None = None  # monotonic-free wall time (epoch s) of the newest good input
    good: int = 0
    bad: int = 0
    last_bad: str = ""  # a sample of the last bad input, shortened
    last_bad_reason: str = ""
    error: str | None = None  # the feed itself failing (file missing, endpoint down)
    started: float = 0.0

    def age(self, now: float | None = None) -> float | None:
        return None if self.last_data is None else (now or time.time()) - self.last_data

    def stale_reason(self, now: float | None = None) -> str | None:
        """A feed that has sent nothing for STALE_INTERVALS intervals is stale, never healthy."""
        now = now or time.time()
        limit = STALE_INTERVALS * self.interval
        if self.last_data is None:
            if now - self.started > limit:
                return f"{self.name}: no data since the console started" + (f" ({self.error})" if self.error else "")
            return None
        age = now - self.last_data
        if age > limit:
            return f"{self.name}: no data for {age:.0f} s" + (f" ({self.error})" if self.error else "")
        return None

    def count_bad(self, line: str | bytes, reason: str) -> None:
        self.bad += 1
        text = line if isinstance(line, str) else line.decode("utf-8", errors="replace")
        self.last_bad = text.strip()[:160]
        self.last_bad_reason = reason
