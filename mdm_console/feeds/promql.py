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
from mdm_console.feeds.parse import MAX_LATENCY_MS, BadLine, Sample, check_count
from mdm_console.plan.models import PromQLQueries
from mdm_console.redact import mask_url
from mdm_console import pools


def scalar(body: str) -> float | None:
    """The value of an instant query answered in the API's JSON shape (None: no series; NaN: the server had
    nothing to compute it from, as `histogram_quantile` or a ratio answer for a path with no traffic).

    Every answer is checked: an object with status success, a result of type vector (one sample) or
    scalar, a non-negative number or NaN. Anything else is a bad answer with its reason (BadLine)."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise BadLine("the answer is not JSON") from None
    if not isinstance(doc, dict):
        raise BadLine(f"the answer is a JSON {type(doc).__name__}, not the query API's object")
    if doc.get("status") != "success":
        raise FetchError(f"query failed: {str(doc.get('error', doc.get('status')))[:200]}")
    data = doc.get("data")
    if not isinstance(data, dict):
        raise BadLine("the answer has no data object")
    kind, result = data.get("resultType"), data.get("result")
    if kind == "scalar":
        raw = result[1] if isinstance(result, list) and len(result) == 2 else None
    elif kind == "vector":
        if not isinstance(result, list):
            raise BadLine("a vector answer without a result list")
        if not result:
            return None
        if len(result) > 1:
            raise BadLine(f"the query returned {len(result)} series; it must aggregate to one (sum, max...)")
        sample = result[0].get("value") if isinstance(result[0], dict) else None
        raw = sample[1] if isinstance(sample, list) and len(sample) == 2 else None
    else:
        raise BadLine(f"result type {str(kind)[:20]!r} (the query must give a vector or a scalar)")
    try:
        v = float(raw)
    except (TypeError, ValueError):
        raise BadLine(f"the value {str(raw)[:40]!r} is not a number") from None
    if math.isnan(v):
        return v
    if not math.isfinite(v) or v < 0:
        raise BadLine(f"the value {v} is not a finite non-negative number")
    return v


def matrix(body: str) -> dict[float, float]:
    """The values of a range query answered in the API's JSON shape: {timestamp: value} of its one series."""
    try:
        doc = json.loads(body)
    except (ValueError, RecursionError):
        raise BadLine("the answer is not JSON") from None
    if not isinstance(doc, dict) or doc.get("status") != "success":
        raise FetchError(f"query failed: {str(doc.get('error') if isinstance(doc, dict) else doc)[:200]}")
    data = doc.get("data")
    if not isinstance(data, dict) or data.get("resultType") != "matrix" or not isinstance(data.get("result"), list):
        raise BadLine("a range answer must be a matrix")
    result = data["result"]
    if not result:
        return {}
    if len(result) > 1:
        raise BadLine(f"the query returned {len(result)} series; it must aggregate to one (sum, max...)")
    out = {}
    for pair in result[0].get("values", []) if isinstance(result[0], dict) else []:
        try:
            ts, v = float(pair[0]), float(pair[1])
        except (TypeError, ValueError, IndexError):
            raise BadLine(f"the step {str(pair)[:60]!r} is not [time, number]") from None
        if math.isfinite(v) and v >= 0:
            out[ts] = v
    return out


VARIANT = "$variant"  # in a query: asked once with "new", once with "old"


class PromQLFeed:
    """Each component is asked on its own: a NaN, an empty answer or an error for one component's query is that
    component's "no data" (with the reason, `stale_reasons`), never the whole feed's."""

    def __init__(self, url: str, queries: dict[str, PromQLQueries], sink: Sink, interval: float):
        self.url = url.rstrip("/")
        self.queries = queries
        self.sink = sink
        self.status = FeedStatus(f"promql {mask_url(url)}", interval, started=time.time())
        self.problems: dict[str, str] = {}  # component -> why its last poll gave no figures
        self.answered: dict[str, float] = {}  # component -> monotonic time of its last good answer
        self._started_mono = time.monotonic()

    def stale_reasons(self, now: float | None = None) -> dict[str, str]:
        """Components whose queries have given no figures for STALE_INTERVALS intervals, with the reason."""
        from mdm_console.feeds.base import STALE_INTERVALS

        limit = STALE_INTERVALS * self.status.interval
        mono = time.monotonic()
        out = {}
        for comp, why in self.problems.items():
            since = self.answered.get(comp, self._started_mono)
            if mono - since > limit:
                out[comp] = f"no data for {comp}: {why}"
        return out

    def query(self, promql: str) -> float | None:
        q = urllib.parse.urlencode({"query": promql})
        return scalar(get(f"{self.url}/api/v1/query?{q}", self.status.interval))

    def poll(self, now: float) -> list[Sample]:
        """Per component, the three queries; a query set that holds `$variant` is asked once for the new path and
        once for the old one (`$variant` replaced by new, old), else its figures are both paths' (variant unknown)."""
        out: list[Sample] = []
        failed: list[str] = []
        for comp, q in self.queries.items():
            texts = (q.operations_rate, q.error_rate, q.latency_p99_ms)
            split = any(VARIANT in t for t in texts)
            got: list[Sample] = []
            why = None
            for variant in (("new", "old") if split else ("all",)):
                try:
                    got += self._component(now, comp, variant, [t.replace(VARIANT, variant) for t in texts])
                except (FetchError, BadLine) as exc:
                    why = f"{variant} path: {exc}" if split else str(exc)
                    break
            if why is None and not got:
                why = "its operations_rate query returned no series"
            if why is None:
                self.problems.pop(comp, None)
                self.answered[comp] = time.monotonic()
                out += got
            else:
                self.problems[comp] = why
                failed.append(why)
        if failed and len(failed) == len(self.queries):  # nothing answered: the feed's own failure
            raise FetchError(failed[0] if len(set(failed)) == 1 else f"no component answered ({failed[0]}; ...)")
        return out

    def _component(self, now: float, comp: str, variant: str, texts: list[str]) -> list[Sample]:
        rate, err, p99 = (self.query(t) for t in texts)
        if rate is None:
            return []  # no series for this path right now: no data, not zero
        if math.isnan(rate):
            raise BadLine("operations_rate answered NaN (the server had nothing to compute it from)")
        ops = rate * self.status.interval  # the server's rate over our polling interval
        if p99 is not None and math.isnan(p99):
            p99 = None  # no latencies in the histogram's window (a path with no traffic): no p99, not zero
        if p99 is not None and p99 > MAX_LATENCY_MS:
            raise BadLine(f"{comp} p99 {p99:.3g} ms is over a day")
        if err is not None and math.isnan(err):
            if rate > 0:
                raise BadLine(f"error_rate answered NaN with {rate:.3g} operations/s (the query's divisor is empty)")
            err = 0.0  # 0 / 0: no operations, so no errors
        if err is not None and err > 1:
            raise BadLine(f"{comp} error rate {err:.3g} is above 1 (the query must give a ratio)")
        total = check_count(ops, f"{comp} operations")
        errors = int(round(total * min(max(err or 0.0, 0.0), 1.0)))
        return [Sample(now, comp, variant, max(total - errors, 0), errors, None, p99, False)]

    def history(self, start: float, end: float, after: dict[str, float] | None = None) -> list[Sample]:
        """The same figures over [start, end] by range queries (one step per polling interval), for a headless
        command that has no running feed behind it. Steps at or before `after[component]` (what is stored
        already) are left out, so nothing is counted twice. Blocking: call it in a thread."""
        step = self.status.interval
        out: list[Sample] = []
        for comp, q in self.queries.items():
            texts = (q.operations_rate, q.error_rate, q.latency_p99_ms)
            split = any(VARIANT in t for t in texts)
            for variant in (("new", "old") if split else ("all",)):
                try:
                    series = [self._range(t.replace(VARIANT, variant), start, end, step) for t in texts]
                except (FetchError, BadLine) as exc:  # this component's no data, not every component's
                    self.problems[comp] = f"{variant} path: {exc}" if split else str(exc)
                    break
                for ts in sorted(series[0]):
                    if after and ts <= after.get(comp, 0.0):
                        continue
                    rate, err, p99 = series[0][ts], series[1].get(ts), series[2].get(ts)
                    total = check_count(rate * step, f"{comp} operations")
                    errors = int(round(total * min(max(err or 0.0, 0.0), 1.0)))
                    out.append(Sample(ts, comp, variant, max(total - errors, 0), errors, None, p99, False))
        if self.queries and len(self.problems) == len(self.queries):
            raise FetchError(next(iter(self.problems.values())))
        self.status.good += 1
        self.status.got_data()
        return out

    def _range(self, promql: str, start: float, end: float, step: float) -> dict[float, float]:
        q = urllib.parse.urlencode({"query": promql, "start": f"{start:.3f}", "end": f"{end:.3f}", "step": f"{step:g}"})
        return matrix(get(f"{self.url}/api/v1/query_range?{q}", max(self.status.interval, 10.0)))

    async def run(self, stop: asyncio.Event) -> None:
        while not stop.is_set():
            now = time.time()
            try:
                samples = await pools.FEEDS.run(self.poll, now)
            except (FetchError, BadLine) as exc:
                self.status.error = str(exc)
                self.status.count_bad(mask_url(self.url), str(exc))
            except Exception as exc:  # noqa: BLE001 - one bad answer is counted, the feed goes on
                self.status.error = f"unreadable answer: {type(exc).__name__}: {exc}"
                self.status.count_bad(mask_url(self.url), self.status.error)
            else:
                self.status.error = None
                self.status.good += 1
                self.status.got_data(now)
                for s in samples:
                    self.sink(s)
            try:
                await asyncio.wait_for(stop.wait(), self.status.interval)
            except TimeoutError:
                pass
