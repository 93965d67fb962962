"""A screen switch paints as soon as the new screen has redrawn, not 50 ms later.

Textual's `switch_mode` holds every repaint for 50 ms (`App.delay_update`) to hide a new screen's first frames.
A console screen that was shown before is ready once its `on_screen_resume` has redrawn it from the session's
state, so it lets the frame go then; the 50 ms stays the longest a switch holds, and a screen's first visit
(it is built) waits for it as before. In a real terminal the hold was most of the difference between a key and
its screen: benchmarks/terminal_keys.py times a switch against bare Textual apps.
"""

from __future__ import annotations

from contextlib import AbstractContextManager


class SwitchHold:
    """Mixed into the App: `delay_update` as Textual's, ended early by `switch_drawn`."""

    SWITCH_HOLD_S: float | None = None  # the longest a switch holds the frame; None: Textual's delay

    def delay_update(self, delay: float = 0.05) -> None:
        hold = self.batch_update()  # Textual's public batch: repaints wait while it is open
        hold.__enter__()
        self.switch_holds.append(hold)
        self.set_timer(self.SWITCH_HOLD_S or delay, lambda: self._release(hold), name="delay_update")

    @property
    def switch_holds(self) -> list[AbstractContextManager]:
        """The switches whose frame is held (at most one, unless keys come faster than screens redraw)."""
        holds = self.__dict__.setdefault("_switch_holds", [])
        return holds

    def switch_drawn(self) -> None:
        """The current screen has redrawn after a switch: the frame goes now."""
        for hold in list(self.switch_holds):
            self._release(hold)

    def _release(self, hold: AbstractContextManager) -> None:
        if hold in self.switch_holds:
            self.switch_holds.remove(hold)
            hold.__exit__(None, None, None)
            self.screen.refresh()
