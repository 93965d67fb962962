"""The console app: five screens over one session (client/session.py: the engine in this process, or the
service it is attached to). It renders the session's state and events and asks the session to act (through
`Actions`); it holds no domain state of its own.

Started from the command line it paints first and opens the engine after (`opener`): the plan,
DuckDB and the session db load in a worker while the operator already sees the dashboard's frame
saying what it is opening. Nothing here imports the engine at module level for that reason."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from rich.text import Text
from textual import events, on, work
from textual.app import App
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.message import Message

from mdm_console.exits import EXIT_FAILED, EXIT_USAGE
from mdm_console.textsafe import visible
from mdm_console.ui.actions import Actions
from mdm_console.collector import IdleCollector
from mdm_console.ui.keydocs import typed
from mdm_console.ui.keymap import Keymap, bindings_by_scope, check, load_keymap
from mdm_console.ui.modals.help import HelpModal, key_rows
from mdm_console.ui.palette import ConsoleCommands
from mdm_console.ui.screens.base import WRITES
from mdm_console.ui.screens.dashboard import DashboardScreen
from mdm_console.ui.switch_hold import SwitchHold
from mdm_console.ui.themes import DEFAULT_THEME, load_themes

if TYPE_CHECKING:
    from mdm_console.client.session import Session
    from mdm_console.store.chain import Event

Opener = Callable[[], Awaitable["Session | tuple[object, object]"]]
# What works before the engine is open: the dashboard's frame, help and quitting.
NEEDS_ENGINE = {"show", "rollback", "export", "command_palette"}
WARM_AFTER_S = 2.0  # after the engine is ready: the checklist's views are made then (ConsoleApp._warm)



def _screen(module: str, name: str):
    """A screen other than the first, imported when it is first opened."""
    import importlib

    return getattr(importlib.import_module(f"mdm_console.ui.screens.{module}"), name)()


def tracebacks_without_locals() -> None:
    """A crash prints its traceback without the frames' local variables: they hold plan params, DSNs and
    environments, secrets among them. Textual builds its crash report with rich's Traceback(show_locals=True)
    and offers no switch, so rich's class is replaced by one that always leaves locals out."""
    import rich.traceback

    base = rich.traceback.Traceback
    if getattr(base, "never_shows_locals", False):
        return

    class TracebackWithoutLocals(base):
        never_shows_locals = True

        def __init__(self, *args, **kwargs):
            kwargs["show_locals"] = False
            super().__init__(*args, **kwargs)

    rich.traceback.Traceback = TracebackWithoutLocals


tracebacks_without_locals()


class ConsoleApp(Actions, SwitchHold, App):
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
    # The first dashboard is the app's default screen: switching to a mode before the first paint costs
    # ~40 ms of start-up (benchmarks/startup.py). Key 1 later opens the "dashboard" mode's own (Textual
    # cannot switch back to its default mode). The other screens are imported when first opened.
    MODES = {"dashboard": DashboardScreen, "rollout": lambda: _screen("rollout", "RolloutScreen"),
             "validation": lambda: _screen("validation", "ValidationScreen"),
             "checklist": lambda: _screen("checklist", "ChecklistScreen"),
             "log": lambda: _screen("session_log", "SessionLogScreen")}
    SCREEN_TITLES = {"dashboard": "Dashboard", "rollout": "Rollout", "validation": "Validation",
                     "checklist": "Checklist", "log": "Session log"}
    COMMANDS = App.COMMANDS | {ConsoleCommands}
    BINDINGS = [
        Binding("1", "show('dashboard')", "Dashboard", id="app.dashboard"),
        Binding("2", "show('rollout')", "Rollout", id="app.rollout"),
        Binding("3", "show('validation')", "Validation", id="app.validation"),
        Binding("4", "show('checklist')", "Checklist", id="app.checklist"),
        Binding("5", "show('log')", "Log", id="app.log"),
        Binding("question_mark", "help", "Help", id="app.help"),
        Binding("R", "rollback", "Rollback", id="app.rollback"),
        Binding("e", "export", "Export", id="app.export"),
        Binding("q", "quit_console", "Quit", id="app.quit"),
    ]

    class EngineEvent(Message):
        def __init__(self, event: Event) -> None:
            super().__init__()
            self.event = event

    class Opened(Message):
        """The session is open (or failed to open: `error` says why, `code` is the exit code)."""

        def __init__(self, session=None, error: str = "", code: int = 0) -> None:
            super().__init__()
            self.session, self.error, self.code = session, error, code

    def __init__(self, engine=None, monitor=None, theme: str | None = None,
                 keymap: Keymap | dict[str, str] | None = None, tick_seconds: float | None = 1.0,
                 opener: Opener | None = None, opening: str = "", session: Session | None = None,
                 taker: Opener | None = None, figures_shown: Callable[[], object] | None = None):
        super().__init__()
        self._figures_shown = figures_shown  # called once, when the first frame with the session's figures is out
        self.live_screens: set = set()  # every mounted screen that shows the session (they register themselves)
        self._pending_events = []
        if engine is None and opener is None and session is None:
            raise ValueError("ConsoleApp needs a session, an engine or an opener")
        self.tick_seconds = tick_seconds  # None: no periodic redraw (snapshot tests want still pictures)
        if session is None and engine is not None:
            from mdm_console.client.session import EmbeddedSession

            session = EmbeddedSession(engine, monitor)
        self.session: Session | None = session  # the one interface to the session (client/session.py)
        self.opener = opener
        self.taker = taker  # opens the session in this process when the service it followed is gone
        self.opening = opening  # what is being opened, shown until the engine is ready
        if keymap is None:
            keymap = load_keymap()
        elif isinstance(keymap, dict):
            keymap = check(keymap, bindings_by_scope())
        self.user_keymap = keymap
        # Set before the first paint: changing the theme later restyles every widget once more.
        for t in load_themes():
            self.register_theme(t)
        self.collector = IdleCollector()  # full garbage collections between keys (collector.py)
        self._unknown_theme = theme if theme and theme not in self.available_themes else None
        self.theme = DEFAULT_THEME if self._unknown_theme or not theme else theme

    async def on_mount(self) -> None:
        # Table cells carry the theme's colours (ui/tones.py): a new theme redraws what is on screen at once.
        self.theme_changed_signal.subscribe(self, self._theme_changed)
        if self._unknown_theme:
            self.notify(f"no theme '{self._unknown_theme}'; using {DEFAULT_THEME}", severity="warning")
        if self.user_keymap.keys:
            self.set_keymap(self.user_keymap.keys)
        if self.user_keymap.problems:
            self.notify("keymap: " + "\n".join(self.user_keymap.problems), title="some keys were not changed",
                        severity="warning", timeout=15)
        if self.session is not None:
            self._engine_ready(redraw=False)  # the dashboard draws itself when it mounts
        else:
            # After the first paint, so the frame is on screen while the engine opens.
            self.call_after_refresh(self._open_engine)

    def _theme_changed(self, _theme) -> None:
        if self.ready:
            for screen in list(self.live_screens):
                if getattr(screen, "in_view", False) and screen.is_mounted:
                    screen.refresh_view()

    def get_default_screen(self) -> DashboardScreen:
        return DashboardScreen()

    async def action_show(self, screen: str) -> None:
        """Keys 1-5: one of the five screens (each keeps its own stack of modals)."""
        await self.switch_mode(screen)

    @property
    def ready(self) -> bool:
        return self.session is not None

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if not self.ready and action in NEEDS_ENGINE:
            return None  # shown dimmed until the engine is open
        if self.ready and self.session.observe and action in WRITES:
            return False  # observing: hidden from the footer and the help
        return super().check_action(action, parameters)

    @work(exclusive=True, group="open")
    async def _open_engine(self) -> None:
        from mdm_console.exits import CliExit

        try:
            opened = await self.opener()
        except CliExit as exc:
            self.post_message(self.Opened(error=exc.message, code=exc.code))
        except Exception as exc:  # noqa: BLE001 - shown, then the console ends with exit 1
            self.post_message(self.Opened(error=f"{type(exc).__name__}: {exc}", code=EXIT_FAILED))
        else:
            if isinstance(opened, tuple):  # (engine, monitor): this process owns the session
                from mdm_console.client.session import EmbeddedSession

                opened = EmbeddedSession(*opened)
            self.post_message(self.Opened(opened))

    @on(Opened)
    async def _on_opened(self, message: Opened) -> None:
        if message.error and message.code == EXIT_USAGE:
            from mdm_console.ui.plan_error import PlanErrorScreen

            await self.push_screen(PlanErrorScreen(message.error))
        elif message.error:
            self.exit(return_code=message.code, message=Text(visible(message.error)))
        else:
            self.session = message.session
            self._engine_ready()

    def notify(self, message: str, *, title: str = "", severity="information", timeout: float | None = None,
               markup: bool = True) -> None:
        """Every toast is text: messages carry names, reasons and errors from outside (never markup)."""
        super().notify(visible(message), title=visible(title, one_line=True), severity=severity, timeout=timeout,
                       markup=False)

    def _engine_ready(self, redraw: bool = True) -> None:
        loaded = self.session.loaded
        self.title = ("DEMO · " if loaded.is_demo else "") + visible(loaded.plan.cutover.name, one_line=True)
        self.sub_title = self.session.described()
        if self.tick_seconds:
            self.set_interval(self.tick_seconds, self._tick)
            self.set_timer(WARM_AFTER_S, self._warm)
        self._follow_engine()
        self.refresh_bindings()
        if redraw and hasattr(self.screen, "refresh_view"):
            self.screen.refresh_view()

    def figures_drawn(self) -> None:
        """A screen drew the session's figures: the first time, `figures_shown` is called once they are painted
        (the console's socket comes up behind them, cli/owner.py)."""
        if self._figures_shown is not None:
            shown, self._figures_shown = self._figures_shown, None
            self.call_after_refresh(shown)

    def _warm(self) -> None:
        """Once, a moment after the first figures: what the checklist screen reads first (every item's view, the
        state hash, the sign-offs) is made in that idle moment rather than when the operator first presses 4;
        after it, an event makes again only what it touched (engine/checklist.py)."""
        if self.screen_stack and self.ready:
            c = self.session.checklist
            c.items()
            c.state_hash()
            c.signoffs()

    def banner_lines(self) -> list[str]:
        """What the operator must see first: start-up notes, open intents, drift, a broken chain."""
        e = self.session
        lines = list(e.notes)
        if e.gone:
            lines.insert(0, f"NOT FOLLOWING THE SESSION: {e.gone}. What shows is as it was then"
                            + ("; ctrl+p → 'Take the session over' runs it here." if e.can_take_over else "."))
        lost = e.store_status().get("lost")
        if lost:
            lines.insert(0, f"SESSION LOG LOST: {lost}. Nothing can be changed; restart on a session db.")
        if e.plan_changed:
            old, new = e.plan_changed
            lines.append(f"The plan changed since the last session: sha256 {old[:12]}… -> {new[:12]}…")
        if e.state.open_intents:
            lines.append("ctrl+p → 'Finish intent' or 'Revert intent' to reconcile.")
        if "flags.drift" in e.state.alerts:
            what = "Adopt the flag file" if e.state.flags_sha256 is None else "Restore the flag file"
            lines.append(e.state.alerts["flags.drift"]["message"] + f" — ctrl+p → '{what}'.")
        return lines

    # ---- events -------------------------------------------------------------------------------
    @work(exclusive=True, group="engine-events")
    async def _follow_engine(self) -> None:
        async with self.session.subscribe() as queue:
            while True:
                self.post_message(self.EngineEvent(await queue.get()))

    @on(EngineEvent)
    def _on_engine_event(self, message: EngineEvent) -> None:
        ev = message.event
        if not self.screen_stack:  # shutting down: events still arrive (a policy, a notifier), nothing to draw
            return
        if ev.kind == "rollback.proposed" and ev.payload.get("mode") == "prompt":
            self.open_rollback("component", ev.component, ev.payload.get("reason", ""), ev.seq)
        if ev.kind == "alert.raised" and ev.payload.get("level") == "critical":
            self.notify(ev.payload.get("message", ""), title="critical alert", severity="error", timeout=10)
        # Every mounted screen hears it, the ones behind a dialog and in other modes too, but once per frame:
        # a burst of events (a validation run, a rollback) is one redraw.
        if not self._pending_events:
            self.call_after_refresh(self._deliver_events)
        self._pending_events.append(ev)

    def _deliver_events(self) -> None:
        batch, self._pending_events = self._pending_events, []
        self.deliveries += 1
        for screen in list(self.live_screens):
            if screen.is_attached:
                try:
                    screen.on_engine_events(batch)
                except NoMatches:  # the screen is being taken apart (the app is closing)
                    pass

    deliveries = 0  # how many coalesced deliveries ran (tests count them against the events)

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown)):
            self.collector.note_input()
        await super().on_event(event)

    def _tick(self) -> None:
        if not self.screen_stack:  # shutting down
            return
        if self.session.gone and not self._said_gone:
            self._said_gone = True  # once: the banner and the status line keep saying it
            how = " ctrl+p → 'Take the session over' runs it in this console." if self.session.can_take_over else ""
            self.notify(f"{self.session.gone}.{how}", title="the session's owner is gone", severity="error",
                        timeout=30)
        elif self._said_gone and not self.session.gone:  # a restarted owner is followed again
            self._said_gone = False
            self.clear_notifications()
            self.sub_title = self.session.described()
            self.notify(f"following the session again: {self.session.described()}; caught up to seq "
                        f"{self.session.state.head_seq}", title="the session's owner is back")
        screen = self.screen
        if hasattr(screen, "tick") and screen.is_mounted:
            try:
                screen.tick()
            except NoMatches:  # the screen is being taken apart (the app is closing): nothing left to draw
                return
        self.collector.maybe_collect()

    _said_gone = False

    @work(exclusive=True, group="take-over")
    async def take_over(self) -> None:
        """Run the session here after the service this console followed ended (the db is free again)."""
        if self.taker is None or self.session.owner:
            return
        try:
            new = await self.taker()
        except Exception as exc:  # noqa: BLE001 - e.g. the service is back and holds the db again
            self.notify(f"{getattr(exc, 'message', None) or exc}", title="could not take the session over",
                        severity="error", timeout=15)
            return
        old, self.session, self._said_gone = self.session, new, False
        self.sub_title = new.described()  # with the session, not an await later: nothing shows the old one's
        await old.close()
        self.clear_notifications()  # "the owner is gone" no longer holds
        self._follow_engine()
        self.refresh_bindings()
        if hasattr(self.screen, "refresh_view"):
            self.screen.refresh_view()
        self.notify("this console now runs the session (feeds, alerts, auto-rollback)", title="taken over")

    # ---- app-wide keys ------------------------------------------------------------------------------
    def action_help(self) -> None:
        screen = self.screen
        # The keys in force (the user's keymap applied), as people type them ("?", not "question_mark").
        # An observing console's help leaves out what it cannot do.
        active = {k: a for k, a in screen.active_bindings.items()
                  if a.node.check_action(a.binding.action, ()) is not False}
        screen_keys = key_rows([(typed(a.binding.key), a.binding) for a in active.values() if a.node is screen])
        app_keys = key_rows([(typed(a.binding.key), a.binding) for a in active.values()
                             if a.node is self]) + ["  ctrl+p     Command palette: every action"]
        title = getattr(screen, "TITLE_TEXT", "") or "mdm-console"
        self.push_screen(HelpModal(f"Keys: {title}", screen_keys or ["  (the app's keys only)"], app_keys))

    def action_rollback(self) -> None:
        self.open_rollback()

    def open_rollback(self, kind: str | None = None, component: str | None = None, reason: str = "",
                      answers: int | None = None) -> None:
        from mdm_console.ui.modals.rollback_wizard import RollbackWizard

        if isinstance(self.screen, RollbackWizard):
            return
        if self.session.observe:
            self.notify("this console observes (read-only): it cannot roll back", severity="warning")
            return
        self.push_screen(RollbackWizard(self.session, kind=kind, component=component, reason=reason,
                                        answers=answers))

    def action_export(self) -> None:
        from mdm_console.ui.modals.export import ExportModal

        self.push_screen(ExportModal(self.session))

    @work(exclusive=True, group="quit")
    async def action_quit_console(self) -> None:
        from mdm_console.ui.modals.quit import QuitModal

        if not self.ready:
            self.exit()
            return
        if self.quit_words() is not None:
            if not await self.push_screen_wait(QuitModal(self.quit_words)):
                return
        s = self.session
        if self._busy():
            from mdm_console.api.models import CancelRequest

            await s.call("cancel", CancelRequest())
            # Let the cancelled validators record their results before the loop stops.
            for _ in range(100):
                if not s.running_validators:
                    break
                await asyncio.sleep(0.05)
        self.exit()

    def _busy(self) -> bool:
        s = self.session
        busy = [w for w in self.workers if w.group == "operation" and w.is_running]
        return bool(s.owner and (busy or s.running_validators))

    def quit_words(self) -> tuple[str, str] | None:
        """What quitting now would stop, as (title, detail), or None when it stops nothing that matters.
        The quit dialog asks again each time the session changes, so its words follow the running work."""
        s = self.session
        if self._busy():
            running = sorted(s.running_validators)
            what = (f"{len(running)} validator(s) running ({', '.join(running[:5])}"
                    f"{', …' if len(running) > 5 else ''})" if running else "A stage change or rollback is running")
            return ("An operation is running", f"{what}. Quitting now cancels it (a stage change finishes or is "
                    "reconciled at the next start; running validators are killed)." + self._safety_net_note())
        if s.owner and s.auto_rollback_on and s.live and any(c.percent > 0 for c in s.state.components.values()):
            # A canary is out and this process is what would roll it back: say so before it goes.
            return "Quit and stop the safety net?", self._safety_net_note().strip()
        return None

    def _safety_net_note(self) -> str:
        """What quitting a console that runs the engine itself stops (a service would keep it running)."""
        if not (self.session.auto_rollback_on and self.session.live):
            return ""
        mode = self.session.plan.alerts.auto_rollback.mode
        return (f"\n\nThis console runs the session itself: quitting stops the metric feeds, the alerts and the "
                f"auto-rollback policy ({mode}). To keep them running without a terminal, run "
                "`mdm-console serve` and attach consoles to it.")
