"""Textual's Footer, rebuilt only when its keys change, and without its leak: the console stays open
for hours and Textual recomposes the footer on every screen switch and focus change."""

from __future__ import annotations

from textual.widgets import Footer


ESSENTIAL = ("question_mark", "R", "e", "q")


class ConsoleFooter(Footer):
    """Footer that keeps its keys while they are the same, and lets replaced keys be freed.

    Rebuilding: each recompose built every FooterKey again and restyled each three times (mount, then
    its `compact` set and reset); every restyle makes throwaway style nodes that only a full garbage
    collection frees: 175 of the ~190 made per screen switch (counted by patching
    Stylesheet._process_component_classes), and the bulk of the console's full collections.

    The leak: Textual 8.2 keeps every FooterKey it ever built: each is `data_bind`-ed to `Footer.compact`,
    and the watcher entry is dropped only when `compact` changes (textual#6666). Measured with
    benchmarks/keys.py: 2 049 dead FooterKeys after 88 screen switches, making each full garbage
    collection slower than the last (12 ms -> 380 ms). Running the watchers once after a recompose lets
    Textual prune the entries of the removed keys.
    """

    _shown: tuple | None = None  # the keys on display, as `_keys()` describes them
    NARROW = 120  # below this many columns the footer is compact, so that q ? R e stay in view at 80

    def on_mount(self) -> None:
        self.compact = self.app.size.width < self.NARROW

    def on_resize(self) -> None:
        self.compact = self.app.size.width < self.NARROW

    def _keys(self) -> tuple:
        app = self.app
        return (self.show_command_palette, *(
            (b.key, app.get_key_display(b), b.action, b.description, enabled, tooltip,
             b.group.description if b.group else None)
            for _, b, enabled, tooltip in self.screen.active_bindings.values() if b.show))

    def compose(self):
        """The app's keys that must always show (help, rollback, export, quit) first: at 80 columns the rest
        is cut from the right, and the screen's keys are also named in its panes' titles."""
        widgets = list(super().compose())
        first = [w for w in widgets if getattr(w, "key", None) in ESSENTIAL]
        yield from first + [w for w in widgets if w not in first]

    async def recompose(self) -> None:
        keys = self._keys()
        if keys == self._shown:
            return
        await super().recompose()
        self._shown = keys if self.children else None  # nothing built (bindings not ready): build next time
        self.mutate_reactive(Footer.compact)
