"""What the five console screens share: access to the session, and three refresh hooks."""

from __future__ import annotations

from typing import TYPE_CHECKING

from weakref import WeakKeyDictionary

from rich.cells import cell_len
from rich.text import Text
from textual import events
from textual.screen import Screen
from textual.widgets import DataTable, Static

if TYPE_CHECKING:
    from mdm_console.store.chain import Event


# What an observing console (--observe) hides: every action that would change the session.
WRITES = frozenset({"rollback", "advance", "step_back", "toggle_auto", "run_phase", "run_selected", "cancel",
                    "complete", "fail", "note", "reopen", "sign"})


class ConsoleScreen(Screen):
    """A screen renders the session's state; it keeps none of its own beyond what is on display."""

    TITLE_TEXT = ""

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in WRITES and self.app.ready and self.app.session.observe:
            return False  # observing: hidden from the footer and the help, and the key does nothing
        return super().check_action(action, parameters)

    @property
    def session(self):
        """The one interface to the session (client/session.py): embedded engine or attached service."""
        return self.app.session

    _shown = False  # shown and then left: its first showing (styled, laid out, filled) is over
    _restyled = True  # False: the next style update is the resume's own, and redundant (update_node_styles)

    def on_screen_suspend(self) -> None:
        self._shown = True

    def on_screen_resume(self, event: events.ScreenResume) -> None:
        # A screen built by this switch draws itself in on_mount, once its widgets exist; its first showing is
        # left to Textual as it is (styled again, and its frame held for Textual's delay).
        if not self.is_mounted:
            return
        if self.app.ready:
            self.refresh_view()
        if not self._shown:
            return
        if event.refresh_styles:
            self._restyled = False
        # Drawn: the frame goes once this event is handled (Textual's own resume refreshes the screen too).
        self.call_next(self._resumed)

    def _resumed(self) -> None:
        self._restyled = True
        if self.app.screen is self:  # keys faster than screens: the newest screen lets the frame go
            self.app.switch_drawn()

    def update_node_styles(self, animate: bool = True) -> None:
        """Textual restyles every node of a screen each time it is shown again (its resume handler runs after
        ours). A console screen's styles are current when it is shown: classes and inline styles set while it was
        hidden restyled their nodes then, and a theme or CSS change restyles the screen as it is switched to
        (`App.switch_mode`). That pass was a third of a screen switch, most of it the data tables' component
        classes (benchmarks/terminal_keys.py; docs/investigations.md). Every other update runs as Textual's."""
        if not self._restyled:
            self._restyled = True
            return
        super().update_node_styles(animate)

    def refresh_view(self) -> None:
        """Redraw from the session's state."""

    def on_mount(self) -> None:
        self.app.live_screens.add(self)  # kept current by every event, also while behind a dialog

    def on_unmount(self) -> None:
        self.app.live_screens.discard(self)

    @property
    def in_view(self) -> bool:
        """On screen: the current screen, or one under a dialog on it. A screen of another mode is drawn again
        when it is shown (on_screen_resume): redrawing it on every event cost a plan of 400 components a tenth
        of a second each (benchmarks/scale.py)."""
        return self in self.app.screen_stack

    def on_engine_events(self, events: list[Event]) -> None:
        """Events were recorded (every mounted screen hears them, at most once per frame). A delivery record
        changes nothing a screen shows but the dashboard's alert pane (drawn by its tick): no redraw for it."""
        if self.app.ready and self.in_view and any(not ev.kind.startswith("notify.") for ev in events):
            self.refresh_view()

    def tick(self) -> None:
        """Once a second: figures age, feeds move."""


def set_text(widget: Static, text: str) -> None:
    """Update a Static only when its text changes, and lay the screen out again only when its number of
    lines does: the console redraws every second, and a layout re-renders every widget on the screen
    (benchmarks/soak.py, the idle console's CPU)."""
    old = getattr(widget, "shown_text", None)
    if old != text:
        widget.shown_text = text
        widget.update(text, layout=old is None or old.count("\n") != text.count("\n"))


def set_titles(widget, title: str | None = None, subtitle: str | None = None) -> None:
    """Set a widget's border title and subtitle only when they change: setting one repaints the whole widget,
    every line of a table included, even to the same text (the idle console redrew its tables every second)."""
    shown = getattr(widget, "shown_titles", None)
    if title is not None and (shown is None or shown[0] != title):
        widget.border_title = title
    if subtitle is not None and (shown is None or shown[1] != subtitle):
        widget.border_subtitle = subtitle
    widget.shown_titles = (title if title is not None else shown and shown[0],
                           subtitle if subtitle is not None else shown and shown[1])


def selected_key(table: DataTable) -> str | None:
    """The row key under the cursor (None for an empty table)."""
    if not table.row_count:
        return None
    return table.coordinate_to_cell_key((table.cursor_row, 0)).row_key.value


def cell_width(value) -> int:
    """Terminal cells a table cell's text takes (a str or a rich Text)."""
    return value.cell_len if isinstance(value, Text) else cell_len(str(value))


_refilled: WeakKeyDictionary[DataTable, dict[str, tuple]] = WeakKeyDictionary()  # the rows each table was given


def refill(table: DataTable, rows: list[tuple[str, tuple]], keep_top: bool = False,
           sort_column: str | None = None) -> None:
    """Replace the rows (key, cells), keeping the cursor on the row it was on.

    The same rows are updated in place, only the cells that changed (clearing and adding every row each second
    re-rendered and re-laid out the whole table), and a column is widened only by a cell wider than the column:
    DataTable re-measures the whole column for any narrower cell it is asked to fit, which made a refill of 400
    rows cost rows squared (benchmarks/scale.py). Columns do not shrink. The same rows in another order are
    sorted in place when `sort_column` holds each row's key (a worst-first table reorders when a status changes;
    building it again measured every cell). Other rows: the table is built again (one measurement per new cell).
    The cursor stays on its row, or with `keep_top` on the first row if it was there (the worst stays in view)."""
    keys = [k for k, _ in rows]
    last = _refilled.setdefault(table, {})
    shown = [r.key.value for r in table.ordered_rows]
    keep, row = selected_key(table), table.cursor_row
    if keys and shown == keys:
        _update_cells(table, rows, last)
        return
    if keys and sort_column is not None and len(shown) == len(keys) and set(shown) == set(keys):
        _update_cells(table, rows, last)
        position = {k: n for n, k in enumerate(keys)}
        table.sort(sort_column, key=lambda cell: position[str(cell)])
    else:
        table.clear()
        last.clear()
        for key, cells in rows:
            table.add_row(*cells, key=key)
            last[key] = cells
    if table.row_count:
        follow = keep in keys and not (keep_top and row == 0)
        table.move_cursor(row=keys.index(keep) if follow else min(row, table.row_count - 1))


def same_cell(old, new) -> bool:
    """Whether a cell shows the same: rich's Text compares text and spans only, not its own style (a theme
    change recolours a status without changing its words)."""
    if isinstance(old, Text) and isinstance(new, Text):
        return old.plain == new.plain and old.style == new.style and old.spans == new.spans
    return old == new


def _update_cells(table: DataTable, rows: list[tuple[str, tuple]], last: dict[str, tuple]) -> None:
    columns = table.ordered_columns
    widths = [c.content_width for c in columns]
    changed = False
    for key, cells in rows:
        if last.get(key) is cells:  # the very row this table was given last time: nothing changed
            continue
        last[key] = cells
        old_cells = table.get_row(key)
        for n, (column, old, new) in enumerate(zip(columns, old_cells, cells, strict=False)):
            if not same_cell(old, new):
                width = cell_width(new)
                wider = width > widths[n]
                table.update_cell(key, column.key, new, update_width=wider)
                widths[n] = max(widths[n], width)
                changed = True
    if changed:
        # DataTable keys its render caches by its update count, so an update leaves every cached cell
        # and line dead until LRU eviction: up to 10 000 cells and 1 000 lines per table, refilled a
        # second at a time (most of the console's RSS growth and of the collector's full passes,
        # benchmarks/soak.py). notify_style_update is the documented hook that drops them.
        table.notify_style_update()
