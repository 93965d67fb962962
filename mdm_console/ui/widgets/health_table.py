"""The dashboard's component table: live health with the age of every figure, STALE plainly."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import DataTable

from mdm_console.ui.screens.base import refill, selected_key
from mdm_console.ui.tones import toned


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


def worst_level(levels, path, alerts) -> str | None:
    """The worse of the raised alerts and what the path's figures say against the plan's levels."""
    found = {a["level"] for a in alerts}
    checks = [(path.error_rate, levels.error_rate, False), (path.p99_ms, levels.latency_p99_ms, False),
              (path.success_rate, levels.success_rate, True)]
    for value, lv, below in checks:
        if value is None:
            continue
        if (value < lv.critical) if below else (value > lv.critical):
            found.add("critical")
        elif (value < lv.warning) if below else (value > lv.warning):
            found.add("warning")
    return "critical" if "critical" in found or "error" in found else "warning" if "warning" in found else None


def component_alerts(alerts: dict, component: str) -> list[dict]:
    return [a for k, a in alerts.items() if k.endswith(f":{component}")]


def short_pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def ms(path) -> str:
    if path.p99_ms is None:
        return "-"
    return f"{path.p99_ms:.0f}ms" + ("" if path.p99_method.startswith("sketch") else "*")


# (key, label, width) in display order; PRIORITY says which stay when the table is narrow.
COLUMNS = [("component", "component", 12), ("status", "status", 11), ("stage", "stage", 12),
           ("new_err", "new err", 7), ("new_p99", "new p99", 7), ("new_ops", "new ops", 7),
           ("old_err", "old err", 7), ("old_p99", "old p99", 7), ("old_ops", "old ops", 7),
           ("verdict", "verdict (new - old)", 30), ("age", "from", 8)]
PRIORITY = ["component", "status", "new_err", "stage", "age", "verdict", "new_ops", "old_err", "new_p99", "old_p99",
            "old_ops"]


def fitting(width: int) -> list[str]:
    """The columns that fit in `width` cells, the most important first, shown in display order."""
    wide = dict((k, w + 2) for k, _, w in COLUMNS)  # a cell's padding
    keep, used = [], 0
    for key in PRIORITY:
        if used + wide[key] <= width or len(keep) < 3:
            keep.append(key)
            used += wide[key]
    return [k for k, _, _ in COLUMNS if k in keep]


class HealthTable(DataTable):
    """Each component's new path beside its old one (error %, p99, operations over the window), so a canary
    failing at 5 % is not hidden in the blend; the columns that do not fit are dropped, least important first."""

    DEFAULT_CSS = """
    HealthTable { height: auto; max-height: 12; border: round $primary; }
    """

    shown: list[str] = []

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._columns_for(self.size.width or 200)

    def on_resize(self) -> None:
        self._columns_for(self.size.width)

    def _columns_for(self, width: int) -> None:
        want = fitting(max(0, width - 4))
        if want == self.shown:
            return
        self.shown = want
        self.clear(columns=True)
        labels = {k: label for k, label, _ in COLUMNS}
        for key in want:
            self.add_column(labels[key], key=key)
        if self._drawn is not None:
            self.refresh_from(*self._drawn)  # the rows went with the columns: draw them again now

    _drawn: tuple | None = None

    def refresh_from(self, session, now: datetime) -> None:
        self._drawn = (session, now)
        window = session.plan.metrics.window_seconds
        self.border_title = f"Components · new and old path, last {window:g} s"
        rows, blended = [], False
        for c in session.plan.components:
            st = session.state.components[c.id]
            cells = {"component": c.id, "stage": f"{st.stage} {st.percent:g}%"}
            held = st.held is not None
            if not session.live:
                cells["status"] = toned(self.app, "⚠ ROLLED BACK", "bad", bold=True) if held else "NO FEED"
            else:
                w = session.stats(c.id)
                primary = w.primary
                mark = "~" if primary.path == "unknown" else ""
                blended |= bool(mark)
                if held:
                    status = toned(self.app, "⚠ ROLLED BACK", "alarm")
                elif w.stale_reason:
                    status = toned(self.app, "⚠ STALE", "alarm")
                elif w.ops == 0:
                    status = "NO DATA"
                else:
                    level = worst_level(session.plan.alerts, primary, component_alerts(session.state.alerts, c.id))
                    word, tone = {"critical": ("✘ CRITICAL", "bad"), "warning": ("▲ WARNING", "warn")}.get(
                        level, ("✔ OK", "ok"))
                    status = toned(self.app, word, tone, bold=tone != "ok")
                verdict = session.verdict(c.id)
                cells["verdict"] = verdict.short() if verdict else "-"
                cells.update(status=status, new_err=mark + short_pct(primary.error_rate), new_p99=mark + ms(primary),
                             new_ops=mark + str(primary.ops), old_err=short_pct(w.old.error_rate),
                             old_p99=ms(w.old), old_ops=str(w.old.ops), age=age_text(w.measured_at, now))
            rows.append((c.id, tuple(cells.get(k, "-") for k in self.shown)))
        self.border_subtitle = "~ both paths: the feed gives no variant" if blended else ""
        refill(self, rows)

    @property
    def selected(self) -> str | None:
        return selected_key(self)
