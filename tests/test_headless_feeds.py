"""Headless gates on live data: with no service or console running the feeds, `advance` and `status` first catch
the metric feed up (JSONL from the stored position to the end; PromQL by a range query; a scrape target by two
scrapes), then judge; when they still cannot, they say why."""

from __future__ import annotations

import json
import re
import threading
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlparse

from tests.conftest import run_cli

PLAN = """\
version = 1
[cutover]
name = "headless"
flag_file = "state/flags.json"
[gate]
min_stage_seconds = 0
min_operations = 100
[[components]]
id = "storage"
flag_key = "mdm.new_backend"
[metrics]
{metrics}
"""


def write_ops(path, n: int, errors: int, *, variant: str, age_s: float = 0.0) -> None:
    t = datetime.now(UTC) - timedelta(seconds=age_s)
    with open(path, "a") as fh:
        for i in range(n):
            ts = (t - timedelta(milliseconds=i)).isoformat().replace("+00:00", "Z")
            fh.write(json.dumps({"ts": ts, "component": "storage", "outcome": "error" if i < errors else "success",
                                 "latency_ms": 5.0, "variant": variant}) + "\n")


def gates(plan) -> dict:
    r = run_cli("status", "--json", "--plan", str(plan))
    assert r.returncode == 0, r.stderr
    return {g["name"]: g for g in json.loads(r.stdout)["gates"]["storage"]}


def test_headless_advance_judges_the_lines_written_since_the_last_look(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(PLAN.format(metrics='source = "jsonl"\npath = "ops.jsonl"\ninterval_seconds = 1'))
    assert run_cli("advance", "storage", "--override", "to canary", "--plan", str(plan)).returncode == 0
    r = run_cli("advance", "storage", "--plan", str(plan))
    assert r.returncode == 1 and "no metrics for storage (headless, caught up:" in r.stdout, r.stdout
    write_ops(tmp_path / "ops.jsonl", 300, 1, variant="new")
    write_ops(tmp_path / "ops.jsonl", 300, 0, variant="old")
    g = gates(plan)
    assert g["operations"]["ok"] and g["operations"]["value"] == 300  # the fresh lines, new path only
    assert g["error_rate"]["ok"] and abs(g["error_rate"]["value"] - 1 / 300) < 1e-9
    # The read position and the aggregates were stored: nothing is counted twice, later lines are added.
    assert gates(plan)["operations"]["value"] == 300
    write_ops(tmp_path / "ops.jsonl", 150, 0, variant="new")
    assert gates(plan)["operations"]["value"] == 450
    r = run_cli("advance", "storage", "--plan", str(plan))
    assert r.returncode == 0 and "canary -> early_adopters" in r.stdout, r.stdout + r.stderr


def test_lines_too_old_to_judge_are_called_stale_with_the_reason(tmp_path):
    plan = tmp_path / "mdm-plan.toml"
    plan.write_text(PLAN.format(metrics='source = "jsonl"\npath = "ops.jsonl"\ninterval_seconds = 1'))
    assert run_cli("advance", "storage", "--override", "to canary", "--plan", str(plan)).returncode == 0
    write_ops(tmp_path / "ops.jsonl", 300, 0, variant="new", age_s=600)  # the application stopped writing
    r = run_cli("advance", "storage", "--plan", str(plan))
    assert r.returncode == 1, r.stdout
    assert re.search(r"stale: the newest metrics for storage are 60\d s old \(headless, caught up: read 300 new "
                     r"line\(s\) of .*ops.jsonl\)", r.stdout), r.stdout


def test_headless_promql_asks_a_range_over_the_window(tmp_path):
    asked: list[dict] = []

    class Api(BaseHTTPRequestHandler):
        def do_GET(self):
            q = {k: v[0] for k, v in parse_qs(urlparse(self.path).query).items()}
            asked.append({"path": urlparse(self.path).path, **q})
            start, end, step = float(q["start"]), float(q["end"]), float(q["step"])
            value = {"ops": "20", "err": "0.01", "p99": "120"}[q["query"].split("_")[0]]
            steps = [[start + i * step, value] for i in range(int((end - start) // step) + 1)]
            body = {"status": "success", "data": {"resultType": "matrix", "result": [{"metric": {}, "values": steps}]}}
            self.send_response(200)
            self.end_headers()
            self.wfile.write(json.dumps(body).encode())

        def log_message(self, *a):
            pass

    srv = ThreadingHTTPServer(("127.0.0.1", 0), Api)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        plan = tmp_path / "mdm-plan.toml"
        plan.write_text(PLAN.format(metrics=f'''source = "promql"
url = "http://127.0.0.1:{srv.server_address[1]}"
interval_seconds = 5
window_seconds = 60
[metrics.queries.storage]
operations_rate = "ops_q"
error_rate = "err_q"
latency_p99_ms = "p99_q"'''))
        assert run_cli("advance", "storage", "--override", "to canary", "--plan", str(plan)).returncode == 0
        asked.clear()
        g = gates(plan)
    finally:
        srv.shutdown()
        srv.server_close()
    assert {a["path"] for a in asked} == {"/api/v1/query_range"} and len(asked) == 3
    assert float(asked[0]["end"]) - float(asked[0]["start"]) == 60 and asked[0]["step"] == "5"
    # 20 ops/s x 5 s per step, steps since the stage began; the feed gives no variant, so they are "unknown".
    assert g["operations"]["ok"] is False and "came without a variant" in g["operations"]["reason"]
