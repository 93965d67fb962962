"""The console app: five screens over one engine. It renders engine state and events and calls
engine methods (through `Actions`); it holds no domain state of its own."""

from __future__ import annotations

import asyncio
import tomllib
from pathlib import Path

from textual import on, work
from textual.app import App
from textual.binding import Binding
from textual.message import Message

from mdm_console.engine.core import Engine
from mdm_console.store.chain import Event
from mdm_console.ui.actions import Actions
from mdm_console.ui.modals.confirm import ConfirmModal
from mdm_console.ui.modals.help import HelpModal, key_rows
from mdm_console.ui.palette import ConsoleCommands
from mdm_console.ui.screens.checklist import ChecklistScreen
from mdm_console.ui.screens.dashboard import DashboardScreen
from mdm_console.ui.screens.rollout import RolloutScreen
from mdm_console.ui.screens.session_log import SessionLogScreen
from mdm_console.ui.screens.validation import ValidationScreen
from mdm_console.ui.themes import DEFAULT_THEME, load_themes


def keymap_path() -> Path:
    import platformdirs

    return platformdirs.user_config_path("mdm-console") / "keymap.toml"


def load_keymap(path: Path | None = None) -> dict[str, str]:
    """`[keys]` table of binding id -> keys, e.g. `"rollout.advance" = "A"`."""
    path = path or keymap_path()
    if not path.exists():
        return {}
    return {str(k): str(v) for k, v in tomllib.loads(path.read_text()).get("keys", {}).items()}


class ConsoleApp(Actions, App):
    """mdm-console.

    BINDINGS:
    - 1..5: Dashboard, Rollout, Validation, Checklist, Session log
    - ctrl+p: command palette
    - ?: help for the current screen
    - R: rollback wizard
    - e: export the session log
    - q: quit (asks first while an operation runs)
    """

    TITLE = "mdm-console"
    MODES = {"dashboard": DashboardScreen, "rollout": RolloutScreen, "validation": ValidationScreen,
             "checklist": ChecklistScreen, "log": SessionLogScreen}
    SCREEN_TITLES = {"dashboard": "Dashboard", "rollout": "Rollout", "validation": "Validation",
                     "checklist": "Checklist", "log": "Session log"}
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("1", "switch_mode('dashboard')", "Dashboard", id="app.dashboard"),
        Binding("2", "switch_mode('rollout')", "Rollout", id="app.rollout"),
        Binding("3", "switch_mode('validation')", "Validation", id="app.validation"),
        Binding("4", "switch_mode('checklist')", "Checklist", id="app.checklist"),
        Binding("5", "switch_mode('log')", "Log", id="app.log"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("R", "rollback", "Rollback", id="app.rollback"),
        Binding("e", "export", "Export", id="app.export"),
        Binding("q", "quit_console", "Quit", id="app.quit"),
    ]

    class EngineEvent(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    def __init__(self, engine: Engine, monitor=None, theme: str | None = None, keymap: dict[str, str] | None = None,
                 tick_seconds: float | None = 1.0):
        super().__init__()
        self.tick_seconds = tick_seconds  # None: no periodic redraw (snapshot tests want still pictures)
        self.engine = engine
        self.monitor = monitor
        self._theme_name = theme or DEFAULT_THEME
        self._keymap = keymap if keymap is not None else load_keymap()

    async def on_mount(self) -> None:
        for theme in load_themes():
            self.register_theme(theme)
        if self._theme_name not in self.available_themes:
            self.notify(f"no theme '{self._theme_name}'; using {DEFAULT_THEME}", severity="warning")
            self._theme_name = DEFAULT_THEME
        self.theme = self._theme_name
        if self._keymap:
            self.set_keymap(self._keymap)
        loaded = self.engine.loaded
        self.title = ("DEMO · " if loaded.is_demo else "") + loaded.plan.cutover.name
        self.sub_title = f"operator {self.engine.store.actor.operator}"
        await self.switch_mode("dashboard")
        if self.tick_seconds:
            self.set_interval(self.tick_seconds, self._tick)
        self._follow_engine()

    def banner_lines(self) -> list[str]:
        """What the operator must see first: start-up notes, open intents, drift, a broken chain."""
        e = self.engine
        lines = list(e.report.notes)
        if e.report.plan_changed:
            old, new = e.report.plan_changed
            lines.append(f"The plan changed since the last session: sha256 {old[:12]}… -> {new[:12]}…")
        if e.state.open_intents:
            lines.append("ctrl+p → 'Finish intent' or 'Revert intent' to reconcile.")
        if "flags.drift" in e.state.alerts:
            lines.append(e.state.alerts["flags.drift"]["message"] + " — ctrl+p → 'Restore the flag file'.")
        return lines

    # ---- events -------------------------------------------------------------------------------
    @work(exclusive=True, group="engine-events")
    async def _follow_engine(self) -> None:
        async with self.engine.subscribe() as queue:
            while True:
                self.post_message(self.EngineEvent(await queue.get()))

    @on(EngineEvent)
    def _on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        if ev.kind == "rollback.proposed" and ev.payload.get("mode") == "prompt":
            self.open_rollback("component", ev.component, ev.payload.get("reason", ""))
        if ev.kind == "alert.raised" and ev.payload.get("level") == "critical":
            self.notify(ev.payload.get("message", ""), title="critical alert", severity="error", timeout=10)
        screen = self.screen
        if hasattr(screen, "on_engine_event"):
            screen.on_engine_event(ev)

    def _tick(self) -> None:
        if not self.screen_stack:  # shutting down
            return
        screen = self.screen
        if hasattr(screen, "tick"):
            screen.tick()

    # ---- app-wide keys ------------------------------------------------------------------------------
    def action_help(self) -> None:
        screen = self.screen
        screen_keys = key_rows([(b.key, b) for b in getattr(screen, "BINDINGS", []) if isinstance(b, Binding)])
        app_keys = key_rows([(b.key, b) for b in self.BINDINGS]) + ["  ctrl+p     Command palette: every action"]
        title = getattr(screen, "TITLE_TEXT", "") or "mdm-console"
        self.push_screen(HelpModal(f"Keys: {title}", screen_keys or ["  (the app's keys only)"], app_keys))

    def action_rollback(self) -> None:
        self.open_rollback()

    def open_rollback(self, kind: str | None = None, component: str | None = None, reason: str = "") -> None:
        from mdm_console.ui.modals.rollback_wizard import RollbackWizard

        if isinstance(self.screen, RollbackWizard):
            return
        self.push_screen(RollbackWizard(self.engine, kind=kind, component=component, reason=reason))

    def action_export(self) -> None:
        from mdm_console.ui.modals.export import ExportModal

        self.push_screen(ExportModal(self.engine))

    @work(exclusive=True, group="quit")
    async def action_quit_console(self) -> None:
        busy = [w for w in self.workers if w.group == "operation" and w.is_running]
        if busy or self.engine.validation.running:
            ok = await self.push_screen_wait(ConfirmModal(
                "An operation is running", "Quitting now cancels it (a stage change finishes or is reconciled at "
                "the next start; running validators are killed).", "QUIT"))
            if not ok:
                return
            self.engine.validation.cancel_all()
            # Let the cancelled validators record their results before the loop stops.
            for _ in range(100):
                if not self.engine.validation.running:
                    break
                await asyncio.sleep(0.05)
        self.exit()
