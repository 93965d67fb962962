"""Helpers for tests that fill a monitor's windows by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def began(e, comp: str, ago: float) -> None:
    """The component's current stage began `ago` seconds back (the evidence period the monitor judges opens then):
    what a test's hand-made operations, dated up to `ago` s back, need to count as this stage's."""
    e.state.components[comp].stage_since = (datetime.now(UTC) - timedelta(seconds=ago)).isoformat()


def scraped_by_prometheus(tmp_path, body):
    """A 127.0.0.1 target answering `body()` (Prometheus text) and a real Prometheus server scraping it every
    second: (the server's port, a function that stops both)."""
    import socket
    import subprocess
    import threading
    from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

    class Target(BaseHTTPRequestHandler):
        def do_GET(self):
            data = body().encode()
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; version=0.0.4")
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, *a):
            pass

    target = ThreadingHTTPServer(("127.0.0.1", 0), Target)
    threading.Thread(target=target.serve_forever, daemon=True).start()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (tmp_path / "prom.yml").write_text(
        "global:\n  scrape_interval: 1s\nscrape_configs:\n  - job_name: t\n    static_configs:\n"
        f"      - targets: ['127.0.0.1:{target.server_address[1]}']\n")
    prom = subprocess.Popen(["prometheus", f"--config.file={tmp_path / 'prom.yml'}",
                             f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def stop() -> None:
        prom.terminate()
        prom.wait(20)
        target.shutdown()
        target.server_close()

    return port, stop


async def open_monitored(tmp_path, plan_text: str):
    """An engine on `plan_text` with a monitor whose windows the test fills by hand (no feed task: ticks by hand)."""
    from mdm_console.engine.core import Engine
    from mdm_console.engine.live import LiveMonitor
    from mdm_console.plan.load import load_plan

    (tmp_path / "mdm-plan.toml").write_text(plan_text)
    e = await Engine.open(load_plan(tmp_path / "mdm-plan.toml"), record_start="test")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    e.health = m
    return e, m


def monitored(plan_for):
    """A fixture: `await live(**kw)` opens an engine on `plan_for(**kw)` with a monitor the test fills by hand (see
    `open_monitored`); every engine it opened is closed after the test."""
    import pytest

    @pytest.fixture
    async def live(tmp_path):
        made = []

        async def make(**kw):
            e, m = await open_monitored(tmp_path, plan_for(**kw))
            made.append(e)
            return e, m

        yield make
        for e in made:
            await e.close()

    return live
