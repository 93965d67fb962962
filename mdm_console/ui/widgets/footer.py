"""Textual's Footer, rebuilt only when its keys change, and without its leak: the console stays open
for hours and Textual recomposes the footer on every screen switch and focus change."""

from __future__ import annotations

from textual.widgets import Footer


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

    def _keys(self) -> tuple:
        app = self.app
        return (self.show_command_palette, *(
            (b.key, app.get_key_display(b), b.action, b.description, enabled, tooltip,
             b.group.description if b.group else None)
            for _, b, enabled, tooltip in self.screen.active_bindings.values() if b.show))

    async def recompose(self) -> None:
        keys = self._keys()
        if keys == self._shown:
            return
        await super().recompose()
        self._shown = keys if self.children else None  # nothing built (bindings not ready): build next time
        self.mutate_reactive(Footer.compact)
