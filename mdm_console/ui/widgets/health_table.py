"""The dashboard's component table: live health with the age of every figure, STALE plainly."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import DataTable

from mdm_console.ui.screens.base import refill, selected_key


def age_text(measured: datetime | None, now: datetime, within: float = 0) -> str:
    """How old a figure is. `within`: the source's own sampling interval; a figure younger than that is
    as fresh as the source makes them ("<2s ago"), so the text does not tick every second for nothing
    (a redraw a second was most of the idle console's CPU: benchmarks/soak.py)."""
    if measured is None:
        return "never"
    age = max(0.0, (now - measured).total_seconds())
    if age < within:
        return f"<{within:g}s ago"
    secs = int(age)
    return f"{secs}s ago" if secs < 120 else f"{secs // 60}m ago" if secs < 7200 else f"{secs // 3600}h ago"


def pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f} %"


def worst_level(levels, w, alerts) -> str | None:
    """The worse of the raised alerts and what the window's figures say against the plan's levels."""
    found = {a["level"] for a in alerts}
    checks = [(w.error_rate, levels.error_rate, False), (w.p99_ms, levels.latency_p99_ms, False),
              (w.success_rate, levels.success_rate, True)]
    for value, lv, below in checks:
        if value is None:
            continue
        if (value < lv.critical) if below else (value > lv.critical):
            found.add("critical")
        elif (value < lv.warning) if below else (value > lv.warning):
            found.add("warning")
    return "critical" if "critical" in found or "error" in found else "warning" if "warning" in found else None


class HealthTable(DataTable):
    DEFAULT_CSS = """
    HealthTable { height: auto; max-height: 12; border: round $primary; }
    """

    def on_mount(self) -> None:
        self.border_title = "Components"
        self.cursor_type = "row"
        self.add_columns("component", "status", "ops in window", "success", "errors", "p99", "stage", "percent",
                         "figures from")

    def refresh_from(self, engine, monitor, now: datetime) -> None:
        rows = []
        for c in engine.plan.components:
            st = engine.state.components[c.id]
            alerts = [a for k, a in engine.state.alerts.items() if k.endswith(f":{c.id}")]
            if monitor is None or engine.plan.metrics.source == "none":
                rows.append((c.id, "NO FEED", "-", "-", "-", "-", st.stage, f"{st.percent:g} %", "-"))
                continue
            w = monitor.stats(c.id)
            if w.stale_reason:
                status = "[bold white on red] STALE [/]"
            elif w.ops == 0:
                status = "NO DATA"
            else:
                level = worst_level(engine.plan.alerts, w, alerts)
                status = {"critical": "[bold red]CRITICAL[/]", "warning": "[bold yellow]WARNING[/]"}.get(
                    level, "[green]OK[/]")
            p99 = "-" if w.p99_ms is None else f"{w.p99_ms:.0f} ms" + ("" if w.p99_method.startswith("sketch") else "*")
            rows.append((c.id, status, str(w.ops), pct(w.success_rate), pct(w.error_rate), p99, st.stage,
                         f"{st.percent:g} %", age_text(w.measured_at, now)))
        refill(self, [(r[0], r) for r in rows])

    @property
    def selected(self) -> str | None:
        return selected_key(self)
