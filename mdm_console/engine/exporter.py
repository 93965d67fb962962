"""The console's own metrics on 127.0.0.1:--metrics-port (prometheus_client, own registry)."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, Gauge, start_http_server

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine
    from mdm_console.engine.live import LiveMonitor


class Exporter:
    def __init__(self, engine: Engine, monitor: LiveMonitor | None, port: int):
        self.engine, self.monitor = engine, monitor
        r = self.registry = CollectorRegistry()
        self.stage = Gauge("mdm_console_stage_percent", "rollout percent per component", ["component", "stage"],
                           registry=r)
        self.gates = Gauge("mdm_console_gate_ok", "1 when the gate holds", ["component", "gate"], registry=r)
        self.alerts = Gauge("mdm_console_active_alerts", "active alerts by level", ["level"], registry=r)
        self.events = Gauge("mdm_console_events_written", "events in the session log", registry=r)
        self.feed_age = Gauge("mdm_console_feed_age_seconds", "age of the newest metric data", ["feed"], registry=r)
        self.server, self.thread = start_http_server(port, addr="127.0.0.1", registry=r)

    def update(self) -> None:
        e = self.engine
        self.stage.clear()
        for cid, c in e.state.components.items():
            self.stage.labels(cid, c.stage).set(c.percent)
            for g in e.rollout.gates(cid):
                self.gates.labels(cid, g.name).set(1 if g.ok else 0)
        for level in ("info", "warning", "error", "critical"):
            self.alerts.labels(level).set(sum(a.get("level") == level for a in e.state.alerts.values()))
        self.events.set(e.state.head_seq)
        feed = getattr(self.monitor, "feed", None)
        if feed is not None:
            age = feed.status.age(time.time())
            self.feed_age.labels(feed.status.name).set(float("nan") if age is None else age)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
