"""The line under the header: DEMO, phase, the window clock, operator, alerts, chain."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import Static

from mdm_console.ui.screens.base import set_text
from mdm_console.ui.safe import escape


def clock(now: datetime, start: datetime | None, end: datetime | None) -> str:
    if start is None:
        return "no window set"

    def hms(seconds: float) -> str:
        s = int(abs(seconds))
        return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"

    if now < start:
        return f"T-{hms((start - now).total_seconds())}"
    text = f"T+{hms((now - start).total_seconds())}"
    if end is not None:
        text += f" (window ends in {hms((end - now).total_seconds())})" if now < end else \
            f" (window closed {hms((now - end).total_seconds())} ago)"
    return text


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; padding: 0 1; background: $panel; color: $text; }
    """

    def render_from(self, engine, now: datetime) -> None:
        plan = engine.plan.cutover
        alerts = engine.state.alerts
        crit = sum(a.get("level") == "critical" for a in alerts.values())
        alert_text = (f"[b $error]{len(alerts)} alert(s), {crit} critical[/]" if crit else
                      f"[b $warning]{len(alerts)} alert(s)[/]" if alerts else "no alerts")
        chain = "[b $error]chain BROKEN: read-only[/]" if engine.store.sealed else f"events {engine.state.head_seq}"
        if engine.store.write_error and not engine.store.lost:
            chain = f"[b reverse $error] SESSION LOG NOT WRITABLE: {escape(engine.store.write_error[:60])} [/]"
        if engine.store.lost:
            chain = "[b reverse $error] SESSION LOG LOST: nothing can be recorded [/]"
        demo = "[reverse b] DEMO [/] " if engine.loaded.is_demo else ""
        held = [cid for cid, c in engine.state.components.items() if c.held]
        if held:  # an automatic rollback: on every screen until a person retries the component
            demo += f"[b reverse $error] ROLLED BACK: {escape(', '.join(held))} (ctrl+p) [/] "
        set_text(self, f"{demo}phase [b]{engine.phase}[/b] · {clock(now, plan.window_start, plan.window_end)} · "
                       f"operator [b]{escape(engine.store.actor.operator)}[/b] · {alert_text} · {chain}")
