"""Resilience: slow servers cannot hold a thread past the deadline; redirects stay on the host; URLs keep
their credentials to themselves."""

from __future__ import annotations

import socket
import threading
import time

import pytest

from mdm_console.feeds.http import FetchError, get, request
from mdm_console.feeds.promql import PromQLFeed
from mdm_console.feeds.prometheus import PrometheusFeed
from mdm_console.redact import mask_url


@pytest.fixture
def trickle():
    """A server on 127.0.0.1 that answers one byte a second, for ever (until the test ends)."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(8)
    stop = threading.Event()

    def serve():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
            except OSError:
                continue

            def drip(c=conn):
                try:
                    c.recv(4096)
                    for b in b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + b"x" * 100000:
                        if stop.is_set():
                            break
                        c.sendall(bytes([b]))
                        stop.wait(0.05)
                except OSError:
                    pass
                finally:
                    c.close()

            threading.Thread(target=drip, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}/metrics"
    stop.set()
    srv.close()


def test_a_trickling_server_is_cut_off_at_the_deadline(trickle):
    done = threading.Event()
    outcome = {}

    def call():
        try:
            get(trickle, 1.0)
        except FetchError as exc:
            outcome["error"] = str(exc)
        done.set()

    threading.Thread(target=call, daemon=True).start()
    assert done.wait(30), "the request was still blocked long after its deadline"
    assert "deadline" in outcome["error"]


class _Redirect:
    def __init__(self, location: str):
        self.location = location

    def __enter__(self):
        from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

        location = self.location

        class H(BaseHTTPRequestHandler):
            def do_GET(self):
                if self.path == "/final":
                    self.send_response(200)
                    self.end_headers()
                    self.wfile.write(b"arrived")
                    return
                self.send_response(302)
                self.send_header("Location", location)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
        threading.Thread(target=self.srv.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{self.srv.server_address[1]}"

    def __exit__(self, *a):
        self.srv.shutdown()
        self.srv.server_close()


def test_redirects_are_followed_on_the_same_host_only():
    with _Redirect("/final") as base:
        assert request(base + "/start", 5) == (200, b"arrived")
    with _Redirect("http://localhost:9/steal?token=t0k") as base:
        with pytest.raises(FetchError, match="redirect to another host") as exc:
            request(base + "/start", 5)
        assert "t0k" not in str(exc.value)


def test_urls_are_masked_in_feed_names_and_errors():
    url = "http://ops:hunter2@127.0.0.1:9/metrics?token=abc123&job=x"
    assert mask_url(url) == "http://ops:***@127.0.0.1:9/metrics?token=***&job=x"
    for feed in (PrometheusFeed(url, "mdm", {"storage"}, lambda s: None, 1),
                 PromQLFeed(url, {}, lambda s: None, 1)):
        assert "hunter2" not in feed.status.name and "abc123" not in feed.status.name


async def test_a_failing_scrape_names_the_url_without_its_secrets():
    url = "http://ops:hunter2@127.0.0.1:9/metrics?token=abc123"  # port 9: nothing listens
    feed = PrometheusFeed(url, "mdm", {"storage"}, lambda s: None, 1)
    await feed.scrape_once()
    assert feed.status.bad == 1
    shown = feed.status.name + feed.status.last_bad + (feed.status.error or "")
    assert "hunter2" not in shown and "abc123" not in shown and "127.0.0.1:9" in shown


def _answer(result_type, result):
    import json

    return json.dumps({"status": "success", "data": {"resultType": result_type, "result": result}})


@pytest.mark.parametrize("ops, err, p99, reason", [
    (_answer("matrix", [{"metric": {}, "values": [[1, "2"]]}]), None, None, "result type 'matrix'"),
    (_answer("string", [1, "x"]), None, None, "result type 'string'"),
    ("[1, 2, 3]", None, None, "a JSON list"),
    (_answer("vector", [{"metric": {}, "value": [1, "NaN"]}]), None, None, "operations_rate answered NaN"),
    (_answer("vector", [{"metric": {}, "value": [1, "+Inf"]}]), None, None, "not a finite"),
    (_answer("vector", [{"metric": {}, "value": [1, "1e12"]}]), None, None, "over the per-scrape maximum"),
    (None, None, _answer("vector", [{"metric": {}, "value": [1, "-50"]}]), "not a finite non-negative"),
    (None, _answer("vector", [{"metric": {}, "value": [1, "3"]}]), None, "above 1"),
    (_answer("vector", [{"metric": {}, "value": [1, "2"]}, {"metric": {}, "value": [1, "3"]}]), None, None,
     "2 series"),
])
async def test_promql_answers_are_validated_and_a_bad_one_is_counted(ops, err, p99, reason):
    import asyncio
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
    from urllib.parse import parse_qs, urlparse

    from mdm_console.feeds.windows import Windows
    from mdm_console.plan.models import PromQLQueries

    good = _answer("vector", [{"metric": {}, "value": [1, "1"]}])
    bodies = {"ops": ops or good, "err": err or _answer("vector", [{"metric": {}, "value": [1, "0.01"]}]),
              "p99": p99 or good}

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):
            q = parse_qs(urlparse(self.path).query)["query"][0]
            self.send_response(200)
            self.end_headers()
            self.wfile.write(bodies[q].encode())

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    w = Windows(["storage"], 300)
    feed = PromQLFeed(f"http://127.0.0.1:{srv.server_address[1]}",
                      {"storage": PromQLQueries(operations_rate="ops", error_rate="err", latency_p99_ms="p99")},
                      w.add, 0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(feed.run(stop))
    try:
        deadline = time.monotonic() + 10
        while feed.status.bad < 2 and time.monotonic() < deadline:  # bad, and bad again: the feed goes on
            await asyncio.sleep(0.02)
    finally:
        stop.set()
        await asyncio.wait_for(task, 10)
        srv.shutdown()
        srv.server_close()
    assert feed.status.bad >= 2 and reason in feed.status.last_bad_reason
    assert sum(b.ops for b in w.buckets.values()) == 0  # nothing bad reached the windows


async def test_stuck_validators_do_not_hold_up_the_drift_watch(tmp_path, trickle):
    import asyncio
    import json

    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan
    from tests.test_validators import write_plan

    validators = "".join(f"""
        [[validators]]
        id = "slow{n}"
        kind = "http"
        timeout_seconds = 60
        params = {{ url = "{trickle}" }}
    """ for n in range(10))
    e = await Engine.open(load_plan(write_plan(tmp_path, validators)), record_start="test")
    await e.rollout.ensure_flag_file()
    stop, ready = asyncio.Event(), asyncio.Event()
    watch = asyncio.create_task(e.rollout.watch_drift(stop, every=0.05, ready=ready))
    await asyncio.wait_for(ready.wait(), 10)
    async with e.subscribe() as q:
        run = asyncio.create_task(e.validation.run())
        started = 0
        while started < 8:  # the validators' pool is full of reads that will not finish
            ev = await asyncio.wait_for(q.get(), 10)
            started += ev.kind == "validator.started"
        doc = json.loads(e.loaded.flag_file.read_text())
        doc["flags"]["mdm.new_backend"]["defaultVariant"] = "on"
        e.loaded.flag_file.write_text(json.dumps(doc))
        ev = await asyncio.wait_for(q.get(), 10)
        while ev.kind != "alert.raised":
            ev = await asyncio.wait_for(q.get(), 10)
    assert ev.payload["alert"] == "flags.drift"
    e.validation.cancel_all()
    await asyncio.wait_for(run, 30)
    stop.set()
    await asyncio.wait_for(watch, 10)
    await e.close()


def test_quitting_does_not_wait_for_a_stuck_pool_thread():
    import subprocess
    import sys

    script = ("import threading\nfrom mdm_console import pools\n"
              "for _ in range(4): pools.VALIDATORS.submit(threading.Event().wait)\n"
              "pools.FEEDS.submit(threading.Event().wait)\nprint('submitted', flush=True)\n")
    r = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0 and "submitted" in r.stdout  # it ended although its threads never will


async def test_a_histogram_giving_a_nan_p99_is_a_bad_scrape(tmp_path):
    """Buckets that make no sense (NaN counts) never reach the windows as a latency."""
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    from mdm_console.feeds.windows import Windows

    body = {"text": ""}

    def exposition(n: str) -> str:
        return ("# TYPE mdm_operations_total counter\n"
                f'mdm_operations_total{{component="storage",outcome="success"}} {n}\n'
                "# TYPE mdm_operation_duration_seconds histogram\n"
                f'mdm_operation_duration_seconds_bucket{{component="storage",le="0.1"}} NaN\n'
                f'mdm_operation_duration_seconds_bucket{{component="storage",le="+Inf"}} {n}\n'
                f'mdm_operation_duration_seconds_count{{component="storage"}} {n}\n'
                'mdm_operation_duration_seconds_sum{component="storage"} 1\n')

    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(body["text"].encode())

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), H)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        w = Windows(["storage"], 300)
        feed = PrometheusFeed(f"http://127.0.0.1:{srv.server_address[1]}/metrics", "mdm", {"storage"}, w.add, 5)
        body["text"] = exposition("100")
        await feed.scrape_once()
        body["text"] = exposition("200")
        await feed.scrape_once()
    finally:
        srv.shutdown()
        srv.server_close()
    assert feed.status.bad == 2 and "is nan: not a finite count" in feed.status.last_bad_reason  # each scrape
    assert all(b.reported_p99 is None for b in w.buckets.values())
