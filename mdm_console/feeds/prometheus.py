"""The Prometheus feed: scrape the exposition text, turn counter deltas into operations.

`<prefix>_operations_total{component,outcome[,variant]}` gives successes and errors since the
last scrape (a counter that went down was reset: its new value is the delta);
`<prefix>_operation_duration_seconds_bucket{component,le[,variant]}` deltas give the p99 of
the interval, interpolated inside the bucket as Prometheus' histogram_quantile does.
"""

from __future__ import annotations

import asyncio
import math
import time

from prometheus_client.parser import text_string_to_metric_families

from mdm_console.feeds.base import FeedStatus, Sink
from mdm_console.feeds.http import FetchError, get
from mdm_console.feeds.parse import MAX_LATENCY_MS, BadLine, Sample, check_count
from mdm_console.redact import mask_url
from mdm_console import pools

Key = tuple[str, str]  # (component, variant)


def histogram_quantile(q: float, buckets: list[tuple[float, float]]) -> float | None:
    """buckets: (upper bound, cumulative count) sorted by bound, +Inf last. Linear inside a bucket."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    total = buckets[-1][1]
    rank = q * total
    prev_bound, prev_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank:
            if math.isinf(bound):
                return prev_bound  # the best a histogram can say: at least the last finite bound
            if count == prev_count:
                return bound
            return prev_bound + (bound - prev_bound) * (rank - prev_count) / (count - prev_count)
        prev_bound, prev_count = bound, count
    return prev_bound


class PrometheusFeed:
    def __init__(self, url: str, prefix: str, components: set[str], sink: Sink, interval: float):
        self.url = url
        self.prefix = prefix
        self.components = components
        self.sink = sink
        self.status = FeedStatus(f"prometheus {mask_url(url)}", interval, started=time.time())
        self._ops: dict[tuple[str, str, str], float] = {}  # (component, variant, outcome) -> counter
        self._hist: dict[tuple[str, str, float], float] = {}  # (component, variant, le) -> cumulative
        self.resets = 0

    def ingest(self, text: str, now: float) -> list[Sample]:
        """Parse one scrape; return the samples of the interval since the previous scrape."""
        try:
            families = list(text_string_to_metric_families(text))
        except Exception as exc:  # noqa: BLE001 - the parser raises several types on garbage
            raise FetchError(f"not Prometheus text: {exc}") from None
        ops: dict[tuple[str, str, str], float] = {}
        hist: dict[tuple[str, str, float], float] = {}
        for fam in families:
            for s in fam.samples:
                comp = s.labels.get("component")
                if comp is None:
                    continue
                variant = s.labels.get("variant", "all")
                if s.name.startswith(self.prefix + "_operation") and not (math.isfinite(s.value) and s.value >= 0):
                    raise BadLine(f"{s.name}{{component={comp!r}}} is {s.value}: not a finite count")
                if s.name == f"{self.prefix}_operations_total" and s.labels.get("outcome") in ("success", "error"):
                    ops[(comp, variant, s.labels["outcome"])] = s.value
                elif s.name == f"{self.prefix}_operation_duration_seconds_bucket" and "le" in s.labels:
                    hist[(comp, variant, float(s.labels["le"]))] = s.value
        unknown = {k[0] for k in ops} - self.components
        if unknown:
            self.status.count_bad(", ".join(sorted(unknown)), "unknown component(s) in the exposition")
        first = not self._ops
        deltas: dict[tuple[str, str, str], float] = {}
        for key, value in ops.items():
            prev = self._ops.get(key)
            if prev is None:
                deltas[key] = 0.0 if first else value
            elif value < prev:
                self.resets += 1
                deltas[key] = value  # counter reset: it restarted from zero
            else:
                deltas[key] = value - prev
        hdeltas: dict[Key, list[tuple[float, float]]] = {}
        for (comp, variant, le), value in hist.items():
            prev = self._hist.get((comp, variant, le))
            d = value if prev is None or value < prev else value - prev
            if prev is None and first:
                d = 0.0
            hdeltas.setdefault((comp, variant), []).append((le, d))
        self._ops, self._hist = ops, hist
        out = []
        for comp, variant in {(c, v) for c, v, _ in deltas}:
            if comp not in self.components:
                continue
            success = check_count(deltas.get((comp, variant, "success"), 0), f"{comp} success")
            error = check_count(deltas.get((comp, variant, "error"), 0), f"{comp} error")
            buckets = sorted(hdeltas.get((comp, variant), []))
            p99 = histogram_quantile(0.99, buckets)
            if p99 is not None and not (math.isfinite(p99) and 0 <= p99 * 1000 <= MAX_LATENCY_MS):
                raise BadLine(f"{comp} p99 {p99} s from the histogram is not a finite latency under a day")
            if success or error:
                out.append(Sample(now, comp, variant, success, error, None,
                                  None if p99 is None else p99 * 1000, False))
        return out

    async def scrape_once(self) -> None:
        now = time.time()
        try:
            text = await pools.FEEDS.run(get, self.url, self.status.interval)
            samples = self.ingest(text, now)
        except (FetchError, BadLine) as exc:
            self.status.error = str(exc)
            self.status.count_bad(mask_url(self.url), str(exc))
            return
        except Exception as exc:  # noqa: BLE001 - one bad scrape is counted, the feed goes on
            self.status.error = f"unreadable scrape: {type(exc).__name__}: {exc}"
            self.status.count_bad(mask_url(self.url), self.status.error)
            return
        self.status.error = None
        self.status.good += 1
        self.status.got_data(now)
        for s in samples:
            self.sink(s)

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            await self.scrape_once()
            try:
                await asyncio.wait_for(stop.wait(), self.status.interval)
            except TimeoutError:
                pass
