"""The PromQL feed: a Prometheus server already aggregates a fleet; ask it, per component,
for the operations rate, the error rate and the p99 latency (HTTP query API, instant queries)."""

from __future__ import annotations

import asyncio
import json
import math
import time
import urllib.parse

from mdm_console.feeds.base import FeedStatus, Sink
from mdm_console.feeds.http import FetchError, get
from mdm_console.feeds.parse import BadLine, Sample, check_count
from mdm_console.plan.models import PromQLQueries
from mdm_console.validators.redact import mask_url


def scalar(body: str) -> float | None:
    """The value of an instant query answered in the API's JSON shape (None: no series)."""
    try:
        doc = json.loads(body)
    except ValueError:
        raise FetchError("the answer is not JSON") from None
    if doc.get("status") != "success":
        raise FetchError(f"query failed: {doc.get('error', doc.get('status'))}")
    data = doc.get("data", {})
    result = data.get("result")
    if data.get("resultType") == "scalar":
        value = result[1]
    elif isinstance(result, list) and result:
        value = result[0]["value"][1]
    else:
        return None
    v = float(value)
    return v if math.isfinite(v) else None


class PromQLFeed:
    def __init__(self, url: str, queries: dict[str, PromQLQueries], sink: Sink, interval: float):
        self.url = url.rstrip("/")
        self.queries = queries
        self.sink = sink
        self.status = FeedStatus(f"promql {mask_url(url)}", interval, started=time.time())

    def _query(self, promql: str) -> float | None:
        q = urllib.parse.urlencode({"query": promql})
        return scalar(get(f"{self.url}/api/v1/query?{q}", self.status.interval))

    def poll(self, now: float) -> list[Sample]:
        out = []
        for comp, q in self.queries.items():
            rate, err, p99 = self._query(q.operations_rate), self._query(q.error_rate), self._query(q.latency_p99_ms)
            if rate is None:
                continue  # no series for this component right now: no data, not zero
            ops = rate * self.status.interval  # the server's rate over our polling interval
            total = check_count(ops, f"{comp} operations")
            errors = int(round(total * min(max(err or 0.0, 0.0), 1.0)))
            out.append(Sample(now, comp, "all", max(total - errors, 0), errors, None, p99, False))
        return out

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.time()
            try:
                samples = await asyncio.to_thread(self.poll, now)
            except (FetchError, BadLine) as exc:
                self.status.error = str(exc)
                self.status.count_bad(mask_url(self.url), str(exc))
            except Exception as exc:  # noqa: BLE001 - one bad answer is counted, the feed goes on
                self.status.error = f"unreadable answer: {type(exc).__name__}: {exc}"
                self.status.count_bad(mask_url(self.url), self.status.error)
            else:
                self.status.error = None
                self.status.good += 1
                self.status.last_data = now
                for s in samples:
                    self.sink(s)
            try:
                await asyncio.wait_for(stop.wait(), self.status.interval)
            except TimeoutError:
                pass
