"""1 Dashboard: component health, plots of the selected component, the host, feeds and alerts."""

from __future__ import annotations

from mdm_console.ui.safe import escape
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.widgets import DataTable, Header, Input, Static

from mdm_console.ui.screens.base import ConsoleScreen, set_text
from mdm_console.ui.widgets.filter_input import FilterInput
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.health_table import HealthTable, age_text
from mdm_console.ui.widgets.plots import ComponentPlots
from mdm_console.ui.widgets.status_line import StatusLine


RANK = {"info": 0, "warning": 1, "error": 2, "critical": 3}
MAX_ALERT_LINES = 30


class DashboardScreen(ConsoleScreen):
    """Live health.

    BINDINGS: (the app's: 1-5, ctrl+p, ?, R, e, q); up/down select a component.
    - /: filter the components (id, title, stage or status: "critical", "stale"); enter keeps it, escape clears
    """

    TITLE_TEXT = "Dashboard"
    AUTO_FOCUS = "HealthTable"  # keys go to the table (digits switch screens); `/` opens the filter
    BINDINGS = [Binding("slash", "filter", "Filter", id="dashboard.filter")]
    DEFAULT_CSS = """
    DashboardScreen #side { width: 40%; max-width: 46; min-width: 26; }
    DashboardScreen #host, DashboardScreen #feed { height: auto; border: round $panel; padding: 0 1; }
    DashboardScreen #alerts { height: 1fr; border: round $warning; padding: 0 1; }
    DashboardScreen #banner { height: auto; background: $error 30%; padding: 0 1; display: none; }
    DashboardScreen #banner.shown { display: block; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        yield Static(id="banner")
        with Horizontal():
            with Vertical():
                yield FilterInput(placeholder="filter: id, title, stage or status (critical, stale…); "
                                              "enter keeps it, escape clears", id="filter")
                yield HealthTable()
                yield ComponentPlots()
            with Vertical(id="side"):
                yield Static(id="host")
                yield Static(id="feed")
                yield Static(id="alerts")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        self.query_one("#host").border_title = "Host"
        self.query_one("#feed").border_title = "Metric feed"
        self.query_one("#alerts").border_title = "Alerts"
        if self.app.ready:
            self.refresh_view()
        else:
            self.query_one(StatusLine).update(f"opening {escape(self.app.opening or 'the session')} …")
            for pane in ("#host", "#feed", "#alerts"):
                self.query_one(pane, Static).update("[dim]waiting for the session to open[/]")

    def on_data_table_row_highlighted(self, _: DataTable.RowHighlighted) -> None:
        if self.app.ready:
            self._draw_plots()

    def tick(self) -> None:
        self.refresh_view()

    def action_filter(self) -> None:
        self.query_one(FilterInput).open()

    @on(Input.Changed, "#filter")
    def _filter(self, event: Input.Changed) -> None:
        if self.app.ready:
            self.query_one(HealthTable).filter(event.value)
            self._draw_plots()

    @on(FilterInput.Left)
    def _filtered(self) -> None:
        self.query_one(HealthTable).focus()

    def refresh_view(self) -> None:
        e, now = self.session, self.session.now()
        self.query_one(StatusLine).render_from(e, now)
        self.query_one(HealthTable).refresh_from(e, now)
        banner = self.query_one("#banner", Static)
        notes = self.app.banner_lines()
        set_text(banner, escape("\n".join(notes)))
        banner.set_class(bool(notes), "shown")
        self._draw_host(now)
        self._draw_feed(now)
        self._draw_alerts()
        self._draw_plots()
        self.app.figures_drawn()

    def _draw_plots(self) -> None:
        self.query_one(ComponentPlots).draw(self.query_one(HealthTable).selected, self.session, self.session.now())

    def _draw_host(self, now) -> None:
        host = self.session.host()
        if host is None:
            set_text(self.query_one("#host", Static), "no host sample yet")
            return
        from datetime import UTC, datetime

        s, interval = host
        age = age_text(datetime.fromtimestamp(s.ts, UTC), now, within=interval + 1)
        io = "" if s.disk_read_bps is None else \
            f"\ndisk read {s.disk_read_bps / 1e6:.1f} MB/s, write {s.disk_write_bps / 1e6:.1f} MB/s"
        set_text(self.query_one("#host", Static), f"CPU {s.cpu_percent:.0f} %   memory {s.memory_percent:.0f} %{io}\n"
                                               f"[dim]measured {age}[/]")

    def _draw_feed(self, now) -> None:
        st = self.session.feed_status()
        w = self.query_one("#feed", Static)
        if st is None:
            set_text(w, "the plan has no metrics source")
            return
        age = st.age(now.timestamp())
        stale = st.stale_reason(now.timestamp())
        lines = [f"{st.name}", f"last data: {'never' if age is None else f'{age:.0f} s ago'}"
                 + (" [b reverse $error] STALE [/]" if stale else ""),
                 f"good {st.good}   bad {st.bad}"]
        unknown = self.session.unknown_ops()
        if unknown:
            lines.append(f"[$warning]{unknown} ops without a variant[/] (no new/old split: gates cannot use them)")
        if st.bad:
            lines.append(f"[dim]last bad ({escape(st.last_bad_reason)}): {escape(st.last_bad[:80])}[/]")
        if st.error:
            lines.append(f"[$error]{escape(st.error)}[/]")
        set_text(w, "\n".join(lines))

    def _draw_alerts(self) -> None:
        alerts = sorted(self.session.state.alerts.values(), key=lambda a: (-RANK.get(a["level"], 0), -a["seq"]))
        color = {"critical": "$text-error", "error": "$text-error", "warning": "$text-warning", "info": "$text-primary"}
        text = "\n".join(f"[{color.get(a['level'], '$text')}]{a['level'].upper()}[/] {a['ts'][11:19]} "
                         f"{escape(a['message'])}"
                         for a in alerts[:MAX_ALERT_LINES]) or "no active alerts"
        if len(alerts) > MAX_ALERT_LINES:  # the worst first; the rest counted (status shows them all)
            text += f"\n[dim]… and {len(alerts) - MAX_ALERT_LINES} more active alerts[/]"
        for name, t in self.session.state.notify.items():  # the deliveries of the plan's [[notify]] targets
            fail = f", [$error]{t['failed']} failed[/]" if t["failed"] else ""
            last = f" (last error: {escape(str(t['last_error'])[:60])})" if t["failed"] and t["last_error"] else ""
            text += f"\n[dim]notify[/] {escape(name)}: {t['sent']} sent{fail}{last}"
        set_text(self.query_one("#alerts", Static), text)
