"""Textual's Footer, without its leak: the console stays open for hours and the footer recomposes on
every screen switch and binding change."""

from __future__ import annotations

from textual.widgets import Footer


class ConsoleFooter(Footer):
    """Footer whose replaced keys can be freed.

    Textual 8.2 keeps every FooterKey it ever built: each is `data_bind`-ed to `Footer.compact`, and the
    watcher entry is dropped only when `compact` changes (textual#6666). Measured with benchmarks/keys.py:
    2 049 dead FooterKeys (with their strips and caches) after 88 screen switches, making each full garbage
    collection slower than the last (12 ms -> 380 ms). Running the watchers once after a recompose lets
    Textual prune the entries of the removed keys.
    """

    async def recompose(self) -> None:
        await super().recompose()
        self.mutate_reactive(Footer.compact)
