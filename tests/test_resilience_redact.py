"""Resilience: masking is linear and everything kept from a validator is capped before it is processed."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from mdm_console.redact import MASK, redact_text
from mdm_console.validators.runner import MAX_DETAIL, MAX_VALUE, cap
from tests.test_validators import run_validators


@pytest.mark.parametrize("text, kept, gone", [
    ("DB_PASSWORD=hunter2 next", "DB_PASSWORD=*** next", "hunter2"),
    ('TOKEN: "abc123"', 'TOKEN: "***"', "abc123"),
    ("x API_KEY=k1,y", "x API_KEY=***,y", "k1,"),
    ("postgres://bob:s3cret@db:5432/x", "postgres://bob:***@db:5432/x", "s3cret"),
    ("İİ password=x1 İ", "İİ password=*** İ", "x1"),
    ("a" * 50_000 + " token=zz9 " + "b" * 50_000, "token=***", "zz9"),
    ("token" * 20_000 + "=v4lue", "=***", "v4lue"),
    ("a://" * 20_000 + "https://u:pw9@h/", "https://u:***@h/", "pw9"),
])
def test_masking_finds_secrets_in_long_and_hostile_text(text, kept, gone):
    out = redact_text(text)
    assert kept in out and gone not in out and MASK in out


def test_known_secret_values_are_masked_wherever_they_stand():
    assert redact_text("connect as s3cr3t-v4lue now", {"s3cr3t-v4lue"}) == "connect as *** now"


def test_cap_bounds_strings_lists_tables_and_depth():
    deep: dict = {}
    node = deep
    for _ in range(20):
        node["x"] = {}
        node = node["x"]
    capped = cap({"s": "v" * 50_000, "l": list(range(10_000)), "d": {str(i): i for i in range(5000)}, "deep": deep})
    assert len(capped["s"]) < MAX_VALUE + 40 and capped["s"].endswith("(50000 characters)")
    assert len(capped["l"]) == 101 and capped["l"][-1] == "… 9900 more"
    assert len(capped["d"]) == 101
    assert "nested too deep" in json.dumps(capped["deep"])


async def test_a_huge_http_answer_is_recorded_capped(tmp_path):
    huge = "token" * 8000 + "=abc"

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"status": huge}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        r, _, state = await run_validators(tmp_path, f"""
            [[validators]]
            id = "big"
            kind = "http"
            params = {{ url = "http://127.0.0.1:{srv.server_address[1]}/", expect_json = {{ status = "ok" }} }}
        """)
    finally:
        srv.shutdown()
        srv.server_close()
    result = r["big"]
    assert result["status"] == "failed"
    assert len(result["detail"]) <= MAX_DETAIL + 40 and "characters)" in result["detail"]
    assert len(result["measured"]["json"]["status"]) <= MAX_VALUE + 40
