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

    def render_from(self, session, now: datetime) -> None:
        plan = session.plan.cutover
        alerts = session.state.alerts
        crit = sum(a.get("level") == "critical" for a in alerts.values())
        alert_text = (f"[b $error]{len(alerts)} alert(s), {crit} critical[/]" if crit else
                      f"[b $warning]{len(alerts)} alert(s)[/]" if alerts else "no alerts")
        store = session.store_status()
        chain = "[b $error]chain BROKEN: read-only[/]" if store["sealed"] else f"events {session.state.head_seq}"
        if store["write_error"] and not store["lost"]:
            chain = f"[b reverse $error] SESSION LOG NOT WRITABLE: {escape(store['write_error'][:60])} [/]"
        if store["lost"]:
            chain = "[b reverse $error] SESSION LOG LOST: nothing can be recorded [/]"
        if session.gone:
            chain = f"[b reverse $error] NOT FOLLOWING: {escape(session.gone[:70])} [/]"
        demo = "[reverse b] DEMO [/] " if session.loaded.is_demo else ""
        if session.observe:
            demo += "[reverse b] OBSERVING [/] "
        held = [cid for cid, c in session.state.components.items() if c.held]
        if held:  # a rollback: on every screen until a person retries the component
            demo += f"[b reverse $error] ROLLED BACK: {escape(', '.join(held))} (ctrl+p) [/] "
        pending = session.state.rollbacks_pending()
        if pending:  # the policy decided a rollback it cannot carry out: the alert says what blocks it
            demo += f"[b reverse $error] ROLLBACK PENDING: {escape(', '.join(pending))} [/] "
        proposed = [cid for cid, c in session.state.components.items() if c.proposal]
        if proposed:  # the policy asks a person (prompt mode): on every screen until answered or withdrawn
            demo += f"[b reverse $warning] ROLLBACK PROPOSED: {escape(', '.join(proposed))} (ctrl+p) [/] "
        set_text(self, f"{demo}phase [b]{session.phase}[/b] · {clock(now, plan.window_start, plan.window_end)} · "
                       f"operator [b]{escape(session.actor.operator)}[/b] · {alert_text} · {chain}")
