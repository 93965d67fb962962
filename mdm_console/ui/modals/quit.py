"""Quitting while something runs: the words follow the running work (the app asks `describe` again on every
event and every second), so the dialog never says an operation runs after it finished."""

from __future__ import annotations

from collections.abc import Callable

from textual.widgets import Label, Static

from mdm_console.ui.modals.confirm import ConfirmModal
from mdm_console.ui.safe import escape

NOTHING = ("Nothing is running any more",
           "What was running has finished: quitting stops nothing that runs. Type QUIT to quit, escape to stay.")


class QuitModal(ConfirmModal):
    """Type QUIT to quit.

    BINDINGS:
    - escape: stay
    """

    def __init__(self, describe: Callable[[], tuple[str, str] | None]):
        self.describe = describe
        title, detail = describe() or NOTHING
        super().__init__(title, detail, "QUIT")

    def on_mount(self) -> None:
        self.app.live_screens.add(self)

    def on_unmount(self) -> None:
        self.app.live_screens.discard(self)

    def on_engine_events(self, events) -> None:
        self.refresh_view()

    def tick(self) -> None:
        self.refresh_view()

    def refresh_view(self) -> None:
        title, detail = self.describe() or NOTHING
        if (title, detail) != (self.title_text, self.detail):
            self.title_text, self.detail = title, detail
            self.query_one("#title", Label).update(f"[b]{escape(title)}[/b]")
            self.query_one("#detail", Static).update(escape(detail))
