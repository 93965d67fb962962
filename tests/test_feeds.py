"""Metric feeds against real files and real HTTP servers on 127.0.0.1; windows; the sketch."""

from __future__ import annotations

import asyncio
import json
import math
import os
import random
import shutil
import threading
import time
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from mdm_console.feeds.jsonl import JsonlFeed
from mdm_console.feeds.parse import BadLine, parse_line
from mdm_console.feeds.prometheus import PrometheusFeed, histogram_quantile
from mdm_console.feeds.promql import PromQLFeed
from mdm_console.feeds.sketch import ALPHA, Sketch
from mdm_console.feeds.windows import Windows
from mdm_console.plan.models import PromQLQueries

COMPS = {"storage", "features"}


def iso(t: float) -> str:
    return datetime.fromtimestamp(t, UTC).isoformat().replace("+00:00", "Z")


def op(comp="storage", ok=True, ms=10.0, variant="new", t=None) -> str:
    return json.dumps({"ts": iso(t or time.time()), "component": comp, "outcome": "success" if ok else "error",
                       "latency_ms": ms, "variant": variant})


def make_feed(path, windows=None):
    windows = windows or Windows(sorted(COMPS), 300)
    return JsonlFeed(path, COMPS, windows.add_tally, 1.0), windows


def drain(feed):
    for s in feed.read_available():
        feed.sink(s)


def total_ops(windows):
    return sum(b.ops for b in windows.buckets.values())


def test_partial_lines_wait_for_their_end(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    line = op()
    path.write_text(op() + "\n" + line[:20])
    drain(feed)
    assert total_ops(w) == 1
    with open(path, "a") as fh:
        fh.write(line[20:] + "\n")
    drain(feed)
    assert total_ops(w) == 2 and feed.status.bad == 0


def test_truncation_and_rotation_lose_nothing_and_count_nothing_twice(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    path.write_text("".join(op() + "\n" for _ in range(10)))
    drain(feed)
    assert total_ops(w) == 10
    with open(path, "a") as fh:  # written to the old file just before it is rotated away
        fh.write("".join(op() + "\n" for _ in range(3)))
    os.rename(path, tmp_path / "ops.jsonl.1")
    path.write_text("".join(op() + "\n" for _ in range(5)))
    drain(feed)
    assert total_ops(w) == 18
    path.write_text(op() + "\n")  # truncated in place (copytruncate) and one new line
    drain(feed)
    assert total_ops(w) == 19
    assert feed.status.good == 19 and feed.status.bad == 0


def test_restart_resumes_from_the_stored_position(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    path.write_text("".join(op() + "\n" for _ in range(4)) + op()[:10])
    drain(feed)
    pos = feed.resume_offset()
    feed.close()
    with open(path, "a") as fh:
        fh.write(op()[10:] + "\n" + op() + "\n")
    again, w2 = make_feed(path)
    again.position = pos
    drain(again)
    assert total_ops(w) == 4 and total_ops(w2) == 2


def test_a_restart_after_a_rotation_reads_the_rest_of_the_old_file_then_the_new_one(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    path.write_text("".join(op() + "\n" for _ in range(6)))
    drain(feed)
    pos = feed.resume_offset()  # what the store keeps; then the console stops
    feed.close()
    with open(path, "a") as fh:  # the application goes on writing, and rotates, while nobody reads
        fh.write("".join(op() + "\n" for _ in range(4)))
    os.replace(path, tmp_path / "ops.jsonl.1")
    path.write_text("".join(op() + "\n" for _ in range(7)))
    again, w2 = make_feed(path)
    again.position = pos
    drain(again)
    assert total_ops(w) == 6 and total_ops(w2) == 4 + 7  # nothing lost, nothing read twice
    drain(again)
    assert total_ops(w2) == 11 and again.status.bad == 0


def test_the_demo_workload_rotates_its_metrics_file_at_the_cap(tmp_path):
    """The demo's own file stays small: at the cap it becomes ops.jsonl.1 and a new file starts."""
    import subprocess
    import sys

    flags = tmp_path / "flags.json"
    flags.write_text(json.dumps({"flags": {"mdm.new_backend": {
        "state": "ENABLED", "variants": {"on": True, "off": False}, "defaultVariant": "off",
        "metadata": {"component": "storage"}}}}))
    metrics = tmp_path / "ops.jsonl"
    proc = subprocess.Popen([sys.executable, "-c", "import sys\nfrom mdm_console.cli.main import main\n"
                             "sys.exit(main(sys.argv[1:]))", "demo-workload", "--flags", str(flags), "--metrics",
                             str(metrics), "--rate", "800", "--rotate-mb", "0.05"])
    try:
        deadline = time.monotonic() + 60
        while not (tmp_path / "ops.jsonl.1").exists():
            assert time.monotonic() < deadline and proc.poll() is None, "no rotation within 60 s"
            time.sleep(0.1)
    finally:
        proc.terminate()
        proc.wait(10)
    cap = int(0.05 * (1 << 20))
    rotated = (tmp_path / "ops.jsonl.1").stat().st_size
    assert cap <= rotated < cap + 200_000  # rotated at the cap (plus the last write)
    assert metrics.stat().st_size < cap + 200_000
    assert all(json.loads(line)["component"] == "storage" for line in (tmp_path / "ops.jsonl.1").read_text().splitlines())


async def test_the_watcher_follows_appends(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    deadline = time.monotonic() + 10
    while feed.reads == 0 and time.monotonic() < deadline:  # the first pass found no file yet
        await asyncio.sleep(0.01)
    with open(path, "a") as fh:
        fh.write("".join(op() + "\n" for _ in range(25)))
    deadline = time.monotonic() + 5
    while total_ops(w) < 25 and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert total_ops(w) == 25


@pytest.mark.parametrize("line,reason", [
    ("not json", "not JSON"),
    ("[1, 2]", "not a JSON object"),
    ('{"ts": "2026-11-22T10:00:00Z", "outcome": "success"}', "no component"),
    ('{"ts": "%s", "component": "billing", "outcome": "success"}', "unknown component"),
    ('{"ts": "yesterday", "component": "storage", "outcome": "success"}', "not ISO 8601"),
    ('{"ts": "2026-11-22T10:00:00", "component": "storage", "outcome": "success"}', "no time zone"),
    ('{"ts": "2099-01-01T00:00:00Z", "component": "storage", "outcome": "success"}', "in the future"),
    ('{"ts": "2001-01-01T00:00:00Z", "component": "storage", "outcome": "success"}', "days old"),
    ('{"ts": "%s", "component": "storage", "outcome": "success", "latency_ms": -3}', "negative"),
    ('{"ts": "%s", "component": "storage", "outcome": "success", "latency_ms": NaN}', "not a number"),
    ('{"ts": "%s", "component": "storage", "outcome": "maybe"}', "not success or error"),
    ('{"ts": "%s", "component": "storage", "success": -1, "error": 0}', "non-negative integer"),
    ('{"ts": "%s", "component": "storage", "success": "12"}', "non-negative integer"),
    ('{"ts": "%s", "component": "storage"}', "neither an operation"),
])
def test_bad_lines_say_why(line, reason):
    now = time.time()
    text = line % iso(now) if "%s" in line else line
    with pytest.raises(BadLine, match=reason):
        parse_line(text, COMPS, now)


def test_bad_lines_are_counted_shown_and_never_reach_the_windows(tmp_path):
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    path.write_text(op() + "\nnot json\n" + op(ok=False) + "\n" + '{"component": "storage"}\n')
    drain(feed)
    assert (feed.status.good, feed.status.bad) == (2, 2)
    assert feed.status.last_bad == '{"component": "storage"}' and "ts" in feed.status.last_bad_reason
    st_ = w.stats("storage", datetime.now(UTC))
    assert (st_.ops, st_.error) == (2, 1)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.text(max_size=200),
    st.binary(max_size=200),
    st.dictionaries(st.sampled_from(["ts", "component", "outcome", "latency_ms", "success", "error", "variant",
                                     "latency_p99_ms"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=30),
                              st.sampled_from(["storage", "success", "error", "new", iso(time.time())])),
                    max_size=7).map(json.dumps),
))
def test_fuzzed_lines_either_parse_into_sane_samples_or_are_bad(line):
    now = time.time()
    try:
        s = parse_line(line, COMPS, now)
    except BadLine:
        return
    assert s.component in COMPS and s.success >= 0 and s.error >= 0
    assert s.latency_ms is None or (math.isfinite(s.latency_ms) and s.latency_ms >= 0)
    assert now - 8 * 86400 < s.ts <= now + 301


_NOW = time.time()
_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 20_000_000), st.floats(allow_nan=True), st.text(max_size=8),
                    st.sampled_from(["storage", "features", "unknown", "success", "error", "new", "old", "all",
                                     iso(_NOW - 30), iso(_NOW - 400), iso(_NOW + 1000), iso(_NOW - 9 * 86400),
                                     "2026-11-26T10:00:00", "2026-11-26 10:00:00+00:00", "2026-11-26T10:00:00+0000"]))
_STAMPS = st.sampled_from([iso(_NOW - 12.5), iso(_NOW - 200), iso(_NOW + 1000), iso(_NOW - 9 * 86400),
                           "2026-11-26T10:00:00", "2026-11-26 10:00:00+00:00", "2026-11-26T10:00:00.1234567+01:00",
                           "2026-W48-4T10:00:00Z", "not a time"]) | _VALUES
_COMPONENTS = st.sampled_from(["storage", "features", "unknown"])
_VARIANTS = st.sampled_from(["new", "old", "all", "NEW"]) | _VALUES
_NUMBERS = st.one_of(st.integers(-2, 20_000_000), st.floats(-1, 1e9), st.sampled_from([0, 86_400_000, 86_400_001, 1e30]),
                     st.none(), st.booleans())
_KEYS = ["ts", "component", "outcome", "latency_ms", "success", "error", "variant", "latency_p99_ms", "other"]


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    # operations and aggregates, well formed or nearly, then lines of any keys and values
    st.fixed_dictionaries({"ts": _STAMPS, "component": _COMPONENTS, "outcome": st.sampled_from(["success", "error"])},
                          optional={"variant": _VARIANTS, "latency_ms": _NUMBERS, "latency_p99_ms": _NUMBERS,
                                    "success": _VALUES, "other": _VALUES}),
    st.fixed_dictionaries({"ts": _STAMPS, "component": _COMPONENTS},
                          optional={"variant": _VARIANTS, "success": _NUMBERS, "error": _NUMBERS,
                                    "latency_p99_ms": _NUMBERS, "latency_ms": _VALUES, "outcome": _VALUES}),
    st.dictionaries(st.sampled_from(_KEYS), _VALUES, max_size=8),
).map(lambda d: json.dumps(d).encode()) | st.binary(max_size=80))
def test_the_batch_reader_means_what_parse_line_means(line):
    """The JSONL feed reads lines with a typed decoder and sums them per bucket (feeds/parse.py `tally_lines`);
    `parse_line` defines a line. For any line both say the same: bad with the same reason, or the same figures."""
    from mdm_console.feeds.parse import tally_lines

    tallies, bad = {}, []
    good = tally_lines([line], COMPS, _NOW, tallies, lambda raw, why: bad.append(why))
    try:
        s = parse_line(line, COMPS, _NOW)
    except BadLine as exc:
        assert (good, tallies, bad) == (0, {}, [str(exc)])
        return
    assert good == 1 and not bad
    (t,) = tallies.values()
    assert (t.start, t.component, t.variant) == (int(s.ts // 5 * 5), s.component, s.variant)
    assert (t.success, t.error, t.last_ts, t.reported_p99) == (s.success, s.error, s.ts, s.p99_ms)
    assert t.sketch.count == (s.latency_ms is not None)
    if s.latency_ms is not None:
        one = Sketch()
        one.add(s.latency_ms)
        assert (t.sketch.buckets, t.sketch.zero) == (one.buckets, one.zero)


def test_a_batch_sums_its_lines_per_bucket_and_path(tmp_path):
    """Lines of one bucket and path reach the windows as one sum: the same figures as line by line."""
    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    now = time.time()
    lines = [op(ok=k % 7 != 0, ms=5 + k, variant="new" if k % 3 else "old", t=now - k * 0.9) for k in range(200)]
    path.write_text("\n".join(lines) + "\n")
    tallies = feed.read_available()
    assert sum(t.ops for t in tallies) == 200 and len(tallies) < 100
    for t in tallies:
        feed.sink(t)
    one_by_one = Windows(sorted(COMPS), 300)
    for line in lines:
        one_by_one.add(parse_line(line, COMPS, now))
    at = datetime.now(UTC)
    got, want = w.stats("storage", at), one_by_one.stats("storage", at)
    for path_ in ("new", "old"):
        g, x = got.paths[path_], want.paths[path_]
        assert (g.ops, g.errors, g.p99_ms) == (x.ops, x.errors, x.p99_ms)
    assert got.new.ops > 0 and got.old.errors > 0


def test_sketch_quantiles_are_within_the_stated_relative_error():
    rng = random.Random(7)
    values = [rng.lognormvariate(3, 1.2) for _ in range(50_000)]
    sk = Sketch()
    for v in values:
        sk.add(v)
    values.sort()
    for q in (0.5, 0.9, 0.95, 0.99, 0.999):
        exact = values[int(q * (len(values) - 1))]
        assert abs(sk.quantile(q) - exact) <= ALPHA * exact, q


def test_windows_split_variants_and_count_since_a_stage_began():
    w = Windows(["storage"], 60)
    now = time.time()
    for i in range(100):
        w.add_op(now - 200 + i, "storage", True, 10.0, "old")  # before the window
    for i in range(50):
        w.add_op(now - 30 + i * 0.1, "storage", i % 10 != 0, 100.0, "new")
    for i in range(50):
        w.add_op(now - 30 + i * 0.1, "storage", True, 10.0, "old")
    st_ = w.stats("storage", datetime.fromtimestamp(now, UTC))
    assert st_.ops == 100 and st_.error == 5
    assert st_.new.error_rate == pytest.approx(0.1)
    assert st_.new.p99_ms == pytest.approx(100, rel=ALPHA)
    c = w.stage_counters("storage", datetime.fromtimestamp(now - 35, UTC))
    assert (c.operations, c.errors) == (50, 5)  # only the new path counts for the gates


class Exposition(BaseHTTPRequestHandler):
    body = ""
    status = 200

    def do_GET(self):
        self.send_response(type(self).status)
        self.end_headers()
        self.wfile.write(type(self).body.encode())

    def log_message(self, *a):
        pass


@pytest.fixture
def server():
    handler = type("H", (Exposition,), {"body": "", "status": 200})
    srv = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    yield handler, f"http://127.0.0.1:{srv.server_address[1]}"
    srv.shutdown()
    srv.server_close()


def exposition(success: int, error: int, buckets: dict[str, int]) -> str:
    lines = ["# TYPE mdm_operations_total counter",
             f'mdm_operations_total{{component="storage",outcome="success"}} {success}',
             f'mdm_operations_total{{component="storage",outcome="error"}} {error}',
             "# TYPE mdm_operation_duration_seconds histogram"]
    for le, n in buckets.items():
        lines.append(f'mdm_operation_duration_seconds_bucket{{component="storage",le="{le}"}} {n}')
    lines.append(f'mdm_operation_duration_seconds_count{{component="storage"}} {list(buckets.values())[-1]}')
    lines.append('mdm_operation_duration_seconds_sum{component="storage"} 1.0')
    return "\n".join(lines) + "\n"


async def test_prometheus_scrapes_turn_counter_deltas_into_operations(server):
    handler, url = server
    w = Windows(["storage"], 300)
    feed = PrometheusFeed(f"{url}/metrics", "mdm", {"storage"}, w.add, 5)
    handler.body = exposition(1000, 10, {"0.1": 900, "0.5": 1000, "+Inf": 1010})
    await feed.scrape_once()
    assert sum(b.ops for b in w.buckets.values()) == 0  # the first scrape is the baseline
    handler.body = exposition(1990, 20, {"0.1": 1700, "0.5": 1990, "+Inf": 2010})
    await feed.scrape_once()
    st_ = w.stats("storage", datetime.now(UTC))
    assert (st_.success, st_.error) == (990, 10)
    assert st_.p99_ms == pytest.approx(histogram_quantile(0.99, [(0.1, 800), (0.5, 990), (math.inf, 1000)]) * 1000)
    handler.body = exposition(50, 1, {"0.1": 40, "0.5": 50, "+Inf": 51})  # the target restarted
    await feed.scrape_once()
    assert feed.resets == 2
    assert w.stats("storage", datetime.now(UTC)).success == 1040
    handler.body = "garbage {{{"
    await feed.scrape_once()
    handler.status = 503
    await feed.scrape_once()
    assert feed.status.bad == 2 and feed.status.error == "HTTP 503"
    assert w.stats("storage", datetime.now(UTC)).success == 1040


def test_histogram_quantile_interpolates_like_prometheus():
    assert histogram_quantile(0.5, [(1.0, 50), (2.0, 100), (math.inf, 100)]) == pytest.approx(1.0)
    assert histogram_quantile(0.75, [(1.0, 50), (2.0, 100), (math.inf, 100)]) == pytest.approx(1.5)
    assert histogram_quantile(0.99, [(1.0, 0), (math.inf, 10)]) == 1.0


async def poll_query_api(answer, queries: PromQLQueries) -> tuple[list, list[str]]:
    """One PromQL poll against a 127.0.0.1 query API whose value for each query is `answer(query)`."""
    asked = []

    class Api(Exposition):
        def do_GET(self):
            from urllib.parse import parse_qs, urlparse

            q = parse_qs(urlparse(self.path).query)["query"][0]
            asked.append(q)
            body = json.dumps({"status": "success", "data": {"resultType": "vector", "result": [
                {"metric": {}, "value": [time.time(), answer(q)]}]}})
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body.encode())

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        w = Windows(["storage"], 300)
        feed = PromQLFeed(f"http://127.0.0.1:{srv.server_address[1]}", {"storage": queries}, w.add, 5)
        return await asyncio.to_thread(feed.poll, time.time()), asked
    finally:
        srv.shutdown()
        srv.server_close()


async def test_promql_reads_the_query_api():
    samples, _ = await poll_query_api(lambda q: {"ops": "20", "err": "0.25", "p99": "850"}[q.split("_")[0]],
                                      PromQLQueries(operations_rate="ops_q", error_rate="err_q", latency_p99_ms="p99_q"))
    [s] = samples
    assert (s.success + s.error, s.error, s.p99_ms) == (100, 25, 850.0)
    assert s.variant == "all"  # queries without $variant: both paths, which the console counts as variant unknown


async def test_promql_queries_with_variant_are_asked_per_path():
    values = {("ops", "new"): "2", ("ops", "old"): "38", ("err", "new"): "0.5", ("err", "old"): "0",
              ("p99", "new"): "900", ("p99", "old"): "40"}
    samples, asked = await poll_query_api(
        lambda q: values[(q.split("_")[0], q.split('variant="')[1].split('"')[0])],
        PromQLQueries(operations_rate='ops_q{variant="$variant"}', error_rate='err_q{variant="$variant"}',
                      latency_p99_ms='p99_q{variant="$variant"}'))
    by = {s.variant: s for s in samples}
    assert set(by) == {"new", "old"} and len(asked) == 6
    assert (by["new"].success + by["new"].error, by["new"].error, by["new"].p99_ms) == (10, 5, 900.0)
    assert (by["old"].success + by["old"].error, by["old"].error, by["old"].p99_ms) == (190, 0, 40.0)


@pytest.mark.skipif(shutil.which("prometheus") is None,
                    reason="no Prometheus server binary here (Debian package 'prometheus' is not installed)")
def test_promql_against_a_real_prometheus_server(tmp_path):
    """A real Prometheus scrapes a 127.0.0.1 target whose counters grow at a known rate (10 % errors)."""
    from tests.stage_helpers import scraped_by_prometheus

    t0 = time.time()

    def body() -> str:
        t = time.time() - t0
        ok, err = int(900 * t), int(100 * t)
        return exposition(ok, err, {"0.05": int(0.5 * (ok + err)), "0.2": ok + err, "+Inf": ok + err})

    port, stop = scraped_by_prometheus(tmp_path, body)
    sel = 'component="storage"'
    queries = {"storage": PromQLQueries(
        operations_rate=f"sum(rate(mdm_operations_total{{{sel}}}[5s]))",
        error_rate=f'sum(rate(mdm_operations_total{{{sel},outcome="error"}}[5s])) / '
                   f"sum(rate(mdm_operations_total{{{sel}}}[5s]))",
        latency_p99_ms=f"histogram_quantile(0.99, sum by (le) (rate(mdm_operation_duration_seconds_bucket{{{sel}}}[5s]))) * 1000")}
    feed = PromQLFeed(f"http://127.0.0.1:{port}", queries, lambda s: None, 5)
    try:
        samples, deadline = [], time.monotonic() + 40
        # Poll once the 5 s rate windows are full of scrapes (the first answers extrapolate from few).
        while (not samples or time.time() - t0 < 9) and time.monotonic() < deadline:
            time.sleep(1)
            try:
                samples = feed.poll(time.time())
            except Exception:  # noqa: BLE001 - the server is still starting
                samples = []
    finally:
        stop()
    [s] = samples
    total = s.success + s.error
    # 1000 ops/s over the 5 s polling interval; Prometheus extrapolates rate() from the scrapes it has,
    # and on a busy machine scrapes slip, so the rate is checked loosely and the ratio (both counters
    # come from the same scrape) tightly.
    assert total == pytest.approx(1000 * 5, rel=0.5)
    assert s.error / total == pytest.approx(0.1, abs=0.02)
    assert 50 < s.p99_ms <= 200


def test_a_silent_feed_is_stale_and_its_gates_say_so(tmp_path):
    from mdm_console.engine.gates import evaluate
    from mdm_console.plan.models import Gate

    path = tmp_path / "ops.jsonl"
    feed, w = make_feed(path)
    path.write_text("".join(op() + "\n" for _ in range(500)))
    drain(feed)
    later = time.time() + 10  # 10 s of silence on a 1 s feed
    reason = feed.status.stale_reason(later)
    assert reason and "no data for" in reason
    w.stale = {"storage": reason}
    c = w.stage_counters("storage", datetime.now(UTC) - timedelta(minutes=1))
    gates = {g.name: g for g in evaluate(Gate(), percent=5, stage_since=datetime.now(UTC) - timedelta(hours=1),
                                         now=datetime.now(UTC), counters=c)}
    assert not gates["success_rate"].ok and gates["success_rate"].reason.startswith("stale:")


# Lines that cannot be a sample: not JSON, not an object, or an object without a component.
NOT_AN_OBJECT = st.sampled_from(["~", "[", '"', "1", "n", "x ", "}"])
BAD_LINES = st.one_of(
    st.tuples(NOT_AN_OBJECT, st.text(max_size=60)).map("".join),
    st.tuples(NOT_AN_OBJECT, st.binary(max_size=60).map(lambda b: b.decode("latin-1"))).map("".join),
    st.dictionaries(st.sampled_from(["ts", "outcome", "latency_ms", "success", "error", "variant"]),
                    st.one_of(st.none(), st.booleans(), st.integers(), st.floats(), st.text(max_size=20)),
                    max_size=6).map(json.dumps),
).map(lambda t: t.replace("\n", " ").replace("\r", " "))

FUZZ_EXAMPLES, FUZZ_LINES = 200, 50  # 10 000 fuzzed lines in all


@pytest.mark.fault
@settings(max_examples=FUZZ_EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                            HealthCheck.data_too_large])
@given(st.lists(BAD_LINES, min_size=FUZZ_LINES, max_size=FUZZ_LINES), st.randoms(use_true_random=False))
def test_fuzzed_bad_lines_are_counted_and_leave_the_windows_as_the_good_ones_made_them(tmp_path_factory, bad, rnd):
    tmp = tmp_path_factory.mktemp("fuzz")
    now = time.time()
    good = [op(comp=rnd.choice(sorted(COMPS)), ok=rnd.random() > 0.1, ms=rnd.uniform(1, 500),
               variant=rnd.choice(["new", "old"]), t=now - rnd.uniform(0, 200)) for _ in range(50)]
    mixed = good + bad
    rnd.shuffle(mixed)
    clean_feed, clean = make_feed(tmp / "clean.jsonl")
    (tmp / "clean.jsonl").write_text("".join(f"{x}\n" for x in good))
    dirty_feed, dirty = make_feed(tmp / "dirty.jsonl")
    (tmp / "dirty.jsonl").write_text("".join(f"{x}\n" for x in mixed), encoding="utf-8", errors="surrogateescape")
    drain(clean_feed)
    drain(dirty_feed)
    assert (dirty_feed.status.good, dirty_feed.status.bad) == (len(good), len(bad))
    at = datetime.fromtimestamp(now, UTC)
    for comp in COMPS:
        a, b = clean.stats(comp, at), dirty.stats(comp, at)
        assert (a.ops, a.error, a.p99_ms, a.success_rate) == (b.ops, b.error, b.p99_ms, b.success_rate)


def test_buckets_the_window_left_are_folded_and_still_count_for_the_gates():
    """A console open for days keeps counts, not objects: stored buckets older than the window are folded
    into columns; the gates still count them from the stage's start, and a line that arrives late for a
    folded bucket brings its counts back, so the store gets the bucket's total, not the late line alone."""
    w = Windows(["storage", "features"], 60)
    t0 = 1_700_000_000.0
    w.add_op(t0, "storage", True, 10.0, "new")
    w.add_op(t0, "storage", True, 10.0, "old")
    w.add_op(t0 + 6, "storage", False, 10.0, "new")
    w.add_op(t0, "features", True, 20.0, "new")
    w.unstored(t0 + 20)
    w.compact(t0 + 1000)
    assert w.buckets == {}
    since = datetime.fromtimestamp(t0 - 1, UTC)
    c = w.stage_counters("storage", since)
    assert (c.operations, c.successes, c.errors) == (2, 1, 1)  # new path only, folded or not
    assert w.stage_counters("storage", datetime.fromtimestamp(t0 + 5, UTC)).operations == 1
    w.add_op(t0 + 1, "storage", False, 500.0, "new")  # late, into the first 5 s bucket
    assert w.stage_counters("storage", since).errors == 2
    (late,) = w.unstored(t0 + 1000)
    assert (late.ops, late.success, late.error) == (2, 1, 1)  # the store's row for that bucket: the total
    w.compact(t0 + 1000)
    assert w.buckets == {}
    c = w.stage_counters("storage", since)
    assert (c.operations, c.successes, c.errors) == (3, 1, 2)
    w.add_op(t0 + 1001, "features", True, 30.0, "new")
    assert w.stats("features", datetime.fromtimestamp(t0 + 1002, UTC)).p99_ms < 40  # nothing old is here
    assert w.stage_counters("features", since).operations == 2


def test_an_unstored_bucket_is_not_folded():
    w = Windows(["storage"], 60)
    t0 = 1_700_000_000.0
    w.add_op(t0, "storage", True, 10.0, "new")
    w.compact(t0 + 1000)  # the store has not taken it yet
    assert len(w.buckets) == 1
    w.unstored(t0 + 1000)
    w.compact(t0 + 1000)
    assert w.buckets == {} and w.stage_counters("storage", datetime.fromtimestamp(t0 - 1, UTC)).operations == 1
    w.add_op(t0 + 100, "storage", True, 10.0, "new")  # late, for a span already folded where nothing was
    w.unstored(t0 + 1000)
    w.compact(t0 + 1000)
    assert w.buckets == {} and w.stage_counters("storage", datetime.fromtimestamp(t0 - 1, UTC)).operations == 2

async def _until(predicate, timeout: float = 10.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


@pytest.mark.parametrize("mode", ["events", "poll"])
async def test_the_tail_is_woken_by_file_events_and_polls_without_them(tmp_path, monkeypatch, mode):
    """With file events a quiet file is looked at only every FALLBACK_S (here an hour), so a line read at once
    was read because the file changed; with MDM_FILE_EVENTS=poll it is polled, and rotation still follows."""
    import mdm_console.feeds.jsonl as jsonl

    monkeypatch.setenv("MDM_FILE_EVENTS", mode)
    monkeypatch.setattr(jsonl, "FALLBACK_S", 3600.0)
    path = tmp_path / "metrics" / "ops.jsonl"
    path.parent.mkdir()
    path.write_text("")
    got = []
    feed = JsonlFeed(path, {"storage"}, got.append, 0.5)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop, every=0.05))
    try:
        await _until(lambda: feed.reads >= 1 and (feed.wake.watching or mode == "poll"))
        assert feed.wake.watching is (mode == "events")
        line = op()
        with path.open("a") as fh:
            fh.write(line + "\n")
        await _until(lambda: sum(t.ops for t in got) == 1)
        if mode == "events":
            assert feed.wake.wakes >= 1
        path.rename(path.with_name("ops.jsonl.1"))  # rotated: the new file is followed from its start
        path.write_text(line + "\n" + line + "\n")
        await _until(lambda: sum(t.ops for t in got) == 3)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)


def test_window_figures_follow_new_lines_the_moving_window_and_staleness_though_kept_between_reads():
    """Stats are kept per component between reads (400 components are read every second): a line, the window
    moving past a bucket, or the feed going stale must each show at once."""
    w = Windows(["a", "b"], 60)
    t0 = 1_800_000_000.0
    at = lambda s: datetime.fromtimestamp(t0 + s, UTC)  # noqa: E731
    w.add_op(t0, "a", True, 10.0, "new")
    first = w.stats("a", at(1))
    assert first.ops == 1 and w.stats("a", at(2)) is first  # nothing changed: the same figures, not recomputed
    w.add_op(t0 + 2, "a", False, 30.0, "new")
    assert (w.stats("a", at(3)).ops, w.stats("a", at(3)).error) == (2, 1)
    w.add_op(t0 + 40, "a", True, 10.0, "new")
    assert w.stats("a", at(41)).ops == 3
    assert w.stats("a", at(70)).ops == 1  # the first bucket left the window
    assert w.stats("b", at(70)).ops == 0 and w.stats("a", at(200)).ops == 0
    w.stale = {"a": "no lines for 90 s"}
    assert w.stats("a", at(200)).stale_reason == "no lines for 90 s"


def _full_pass(w: Windows, comp: str, t: float) -> tuple:
    """A window's figures made from scratch from the buckets it covers: what the sliding window must equal."""
    chosen = w.in_window(comp, t)

    def merged(part):
        sk = Sketch()
        for b in part:
            sk.merge(b.sketch)
        return sk

    def reported(part):
        values = [b.reported_p99 for b in part if b.reported_p99 is not None]
        return max(values) if values else None

    paths = {}
    for variant, path in (("new", "new"), ("old", "old"), ("all", "unknown")):
        part = [b for b in chosen if b.variant == variant]
        sk = merged(part)
        p99 = sk.quantile(0.99) if sk.count else reported(part)
        paths[path] = (sum(b.ops for b in part), sum(b.error for b in part), p99)
    sk = merged(chosen)
    p50, p95, p99 = sk.quantiles(0.5, 0.95, 0.99) if sk.count else (None, None, reported(chosen))
    newest = max((b.last_ts for b in chosen), default=0.0) or w.newest(comp)
    return (sum(b.ops for b in chosen), sum(b.success for b in chosen), sum(b.error for b in chosen), p50, p95, p99,
            datetime.fromtimestamp(newest, UTC) if newest else None, paths)


def _figures(st) -> tuple:
    return (st.ops, st.success, st.error, st.p50_ms, st.p95_ms, st.p99_ms, st.measured_at,
            {name: (p.ops, p.errors, p.p99_ms) for name, p in st.paths.items()})


@pytest.mark.parametrize("seed", range(6))
def test_the_sliding_window_equals_a_fresh_pass_over_its_buckets(seed):
    """A component's window is kept as running sums: buckets the window reaches are added, those it leaves taken
    out, lines into it added as they come. After any mix of single operations, aggregate lines and batches (late,
    early, behind the folding), time moving on by a little or a lot (or back), the store taking buckets and
    folding, the figures equal those of a fresh pass over the window's buckets."""
    from mdm_console.feeds.parse import Tally

    rnd = random.Random(seed)
    comps = ["a", "b", "c"]
    w = Windows(comps, 60)
    t = 1_800_000_000.0
    slid = 0
    for step in range(400):
        t += rnd.choice([0.3, 1, 1, 1, 2, 5, 13, 27, 90]) if rnd.random() > 0.03 else -7
        for _ in range(rnd.randint(0, 6)):
            comp, variant = rnd.choice(comps), rnd.choice(["new", "new", "old", "all"])
            ts = t - rnd.choice([0, 0, 0.5, 3, 20, 59, 75, 400]) + rnd.random()
            kind = rnd.random()
            if kind < 0.5:
                w.add_op(ts, comp, rnd.random() > 0.2, rnd.choice([None, 0.0, 3.0, rnd.uniform(1, 900)]), variant)
            elif kind < 0.75:
                w.add_aggregate(ts, comp, rnd.randint(0, 50), rnd.randint(0, 5),
                                rnd.choice([None, rnd.uniform(1, 500)]), variant)
            else:
                start = int(ts // 5 * 5)
                tally = Tally(start, comp, variant, success=rnd.randint(0, 20), error=rnd.randint(0, 3),
                              reported_p99=rnd.choice([None, 42.0]), last_ts=ts)
                tally.sketch.add_many([rnd.uniform(1, 300) for _ in range(rnd.randint(0, 5))])
                w.add_tally(tally)
        if rnd.random() < 0.3:
            w.unstored(t)
            w.compact(t)
        for comp in comps:
            running = w._running.get(comp)
            before = (running, running.first) if running is not None else None
            at = datetime.fromtimestamp(t, UTC)  # to the microsecond, as the console's clock gives it
            assert _figures(w.stats(comp, at)) == _full_pass(w, comp, at.timestamp()), (seed, step, comp)
            if before is not None and w._running[comp] is before[0] and before[1] != before[0].first:
                slid += 1
    assert slid > 100  # most reads slid the kept window on rather than making it again


def test_restored_buckets_take_late_samples_each_into_their_own_sketch():
    """Restored buckets (counts from the store, no samples) share one empty sketch until a line brings one a
    sample: that bucket's sample must not reach any other restored bucket, and the figures count it once."""
    from mdm_console.feeds.parse import Tally

    t0 = 1_800_000_000
    w = Windows(["a", "b"], 60)
    w.restore([(t0 + 5 * k, c, v, 10, 9, 1, None) for k in range(6) for c in ("a", "b") for v in ("new", "old")])
    w.add_op(t0 + 1, "a", True, 250.0, "new")
    tally = Tally(t0 + 10, "b", "old", success=1, last_ts=t0 + 11)
    tally.sketch.add(40.0)
    w.add_tally(tally)
    at = datetime.fromtimestamp(t0 + 31, UTC)
    a, b = w.stats("a", at), w.stats("b", at)
    assert (a.new.ops, a.new.p99_ms is not None, a.old.p99_ms) == (61, True, None)
    assert abs(a.new.p99_ms - 250.0) <= 250.0 * ALPHA
    assert (b.old.ops, b.new.p99_ms) == (61, None) and abs(b.old.p99_ms - 40.0) <= 40.0 * ALPHA
    assert sum(1 for x in w.buckets.values() if x.sketch.count) == 2  # the two buckets that were sent a sample


def test_restoring_folds_what_the_window_left_as_compact_would():
    """Stored buckets older than the window go straight into the folded columns when restored: the stage
    counters, the window's figures and a late line's bucket total are what restoring them all and folding after
    gives."""
    t0 = 1_800_000_000
    rows = [(t0 + 5 * k, c, v, 3 + k % 4, 2 + k % 4, 1, 80.0 if k % 7 == 0 else None)
            for k in range(300) for c in ("a", "b") for v in ("new", "old", "all")]
    now = t0 + 5 * 300 + 2
    late, direct = Windows(["a", "b"], 120), Windows(["a", "b"], 120)
    late.restore(rows)
    late.compact(now)
    direct.restore(rows, now)
    assert len(direct.buckets) == len(late.buckets) < len(rows) / 5  # the rest is folded in both
    at = datetime.fromtimestamp(now, UTC)
    for c in ("a", "b"):
        assert _figures(direct.stats(c, at)) == _figures(late.stats(c, at))
        for since in (t0 - 10, t0 + 333, t0 + 1400):
            when = datetime.fromtimestamp(since, UTC)
            assert direct.since_counts(c, when) == late.since_counts(c, when)
    for w in (late, direct):  # a line for an old bucket: the store is given that bucket's total
        w.add_op(t0 + 51, "a", False, 12.0, "new")
    (x,), (y,) = late.unstored(now), direct.unstored(now)
    assert (x.start, x.ops, x.success, x.error) == (y.start, y.ops, y.success, y.error) == (t0 + 50, 6, 4, 2)


@pytest.mark.parametrize("seed", range(3))
def test_the_figures_key_moves_whenever_any_components_figures_can(seed):
    """A screen draws 400 components' figures only when `figures_key` moved: two reads under the same key must
    give every component the same figures, whatever came between (lines of every kind, late and behind the
    folding, folding, a restore, staleness, time moving within a bucket or past one), and the key must stay put
    when nothing came (else the screen gains nothing)."""
    from mdm_console.feeds.parse import Tally

    rnd = random.Random(seed)
    comps = ["a", "b", "c"]
    w = Windows(comps, 60)
    t = 1_800_000_000.0
    last, kept = None, 0
    for step in range(500):
        t += rnd.choice([0.2, 0.5, 1, 1, 3, 9])
        what = rnd.random()
        if what < 0.4:
            pass  # nothing came
        elif what < 0.6:
            w.add_op(t - rnd.choice([0, 2, 70]), rnd.choice(comps), rnd.random() > 0.3, rnd.uniform(1, 500),
                     rnd.choice(["new", "old"]))
        elif what < 0.7:
            w.add_aggregate(t - rnd.choice([0, 400]), rnd.choice(comps), rnd.randint(0, 9), rnd.randint(0, 2),
                            rnd.choice([None, 90.0]), "all")
        elif what < 0.78:
            tally = Tally(int(t // 5 * 5), rnd.choice(comps), "new", success=rnd.randint(1, 5), last_ts=t)
            tally.sketch.add(rnd.uniform(1, 300))
            w.add_tally(tally)
        elif what < 0.88:
            w.unstored(t)
            w.compact(t)
        elif what < 0.95:
            w.stale = rnd.choice([{}, {"a": "quiet for 30 s"}, {c: "the feed is quiet" for c in comps}])
        else:
            w.restore([(int(t // 5 * 5) - 5, rnd.choice(comps), "old", 4, 3, 1, None)])
        at = datetime.fromtimestamp(t, UTC)
        key = w.figures_key(t)
        figures = {c: _figures(w.stats(c, at)) + (w.stats(c, at).stale_reason,) for c in comps}
        if last is not None and last[0] == key:
            assert figures == last[1], (seed, step)
            kept += 1
        last = (key, figures)
    assert kept > 50  # the key stayed put between many reads
