"""What every metric feed reports about itself: data age, good and bad input counts."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from mdm_console.feeds.parse import Sample

STALE_INTERVALS = 3
Sink = Callable[[Sample], None]


@dataclass
class FeedStatus:
    name: str  # e.g. "jsonl metrics/ops.jsonl"
    interval: float
    last_data: float | None = None  # wall time (epoch s) of the newest good input, for display
    good: int = 0
    bad: int = 0
    last_bad: str = ""  # a sample of the last bad input, shortened
    last_bad_reason: str = ""
    error: str | None = None  # the feed itself failing (file missing, endpoint down)
    started: float = 0.0
    # Ages are measured on the monotonic clock: a wall clock stepped back or ahead neither makes data
    # young again ("-3575 s ago") nor old at once.
    last_data_mono: float | None = None
    started_mono: float = field(default_factory=time.monotonic)

    def got_data(self, wall: float | None = None) -> None:
        self.last_data = time.time() if wall is None else wall
        self.last_data_mono = time.monotonic()

    def _elapsed(self, since_mono: float, now: float | None) -> float:
        # `now` (wall) may be ahead of the real wall clock when a caller looks into the future (tests,
        # a frozen clock): that lead is added; a stepped wall clock itself changes nothing.
        lead = 0.0 if now is None else now - time.time()
        return max(0.0, time.monotonic() - since_mono + lead)

    def age(self, now: float | None = None) -> float | None:
        if self.last_data is None:
            return None
        if self.last_data_mono is None:  # set by hand: wall time only
            return max(0.0, (now or time.time()) - self.last_data)
        return self._elapsed(self.last_data_mono, now)

    def stale_reason(self, now: float | None = None) -> str | None:
        """A feed that has sent nothing for STALE_INTERVALS intervals is stale, never healthy."""
        limit = STALE_INTERVALS * self.interval
        if self.last_data is None:
            if self._elapsed(self.started_mono, now) > limit:
                return f"{self.name}: no data since the console started" + (f" ({self.error})" if self.error else "")
            return None
        age = self.age(now)
        if age > limit:
            # Words that stay the same while the feed stays quiet (the age is shown beside it): every figure, row
            # and alert that carries them is not made again every second for nothing.
            last = datetime.fromtimestamp(self.last_data, UTC).strftime("%H:%M:%S")
            return (f"{self.name}: no data for more than {limit:g} s (the last at {last} UTC)"
                    + (f" ({self.error})" if self.error else ""))
        return None

    def count_bad(self, line: str | bytes, reason: str) -> None:
        self.bad += 1
        text = line if isinstance(line, str) else line.decode("utf-8", errors="replace")
        self.last_bad = text.strip()[:160]
        self.last_bad_reason = reason


@dataclass(frozen=True)
class StageCounters:
    """What a health window observed for one component since a given time (what the gates judge)."""

    operations: int
    successes: int
    errors: int
    measured_at: datetime | None  # time of the newest sample; None: nothing ever arrived
    stale_reason: str | None = None  # set when the feed went silent
    unknown: int = 0  # operations in the span whose feed did not say which path served them
