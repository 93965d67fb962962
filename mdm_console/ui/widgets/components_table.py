"""The component table: stage and percent of each component, with the time the stage began."""

from __future__ import annotations

from datetime import UTC, datetime

from textual.widgets import DataTable

from mdm_console.engine.core import Engine


def age(iso: str | None, now: datetime) -> str:
    if not iso:
        return "never moved"
    secs = max(0, int((now - datetime.fromisoformat(iso)).total_seconds()))
    if secs < 120:
        return f"{secs}s ago"
    if secs < 7200:
        return f"{secs // 60}m ago"
    return f"{secs // 3600}h ago"


class ComponentsTable(DataTable):
    """One row per component of the plan."""

    DEFAULT_CSS = """
    ComponentsTable { height: auto; max-height: 50%; border: round $primary; }
    """

    def on_mount(self) -> None:
        self.border_title = "Components"
        self.cursor_type = "row"
        self.add_columns("component", "title", "flag", "stage", "percent", "stage began")

    def refresh_from(self, engine: Engine, now: datetime | None = None) -> None:
        now = now or datetime.now(UTC)
        self.clear()
        for c in engine.plan.components:
            st = engine.state.components[c.id]
            self.add_row(c.id, c.title, c.flag_key, st.stage, f"{st.percent:g} %", age(st.stage_since, now), key=c.id)
