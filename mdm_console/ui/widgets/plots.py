"""Error rate and p99 of one component over the window, drawn by plotext.

plotext builds its canvas in pure Python (100-200 ms for two plots on a loaded 2-core box), so
the text is built in a worker thread and only the finished picture is put on screen: the event
loop stays free for keys (benchmarks/keys.py showed every key-latency outlier was a plot redraw
on the loop). plotext is imported there too, which keeps it off the start-up path.
"""

from __future__ import annotations

import threading
from datetime import datetime

from rich.text import Text
from textual import work
from textual.containers import Horizontal
from textual.widgets import Static


_PLOTEXT = threading.Lock()  # plotext keeps one global figure


Series = dict[str, tuple[list[float], list[float], list[float]]]  # path -> seconds ago, error %, p99 ms


def render(title: str, lines: dict[str, tuple[list[float], list[float]]], width: int, height: int) -> str:
    import plotext as plt

    with _PLOTEXT:
        plt.clear_figure()
        plt.plotsize(max(width, 20), max(height, 5))
        plt.theme("clear")
        plt.title(title)
        plt.xlabel("seconds ago")
        for label, (xs, ys) in lines.items():
            plt.plot(xs, ys, marker="braille", label=label)
        return plt.build()


class ComponentPlots(Horizontal):
    DEFAULT_CSS = """
    ComponentPlots { height: 1fr; min-height: 12; }
    ComponentPlots > Static { width: 1fr; height: 1fr; border: round $secondary; }
    """

    _drawn: tuple | None = None  # (component, 5 s bucket) on display: redraw only when it changes

    def compose(self):
        yield Static("waiting for data…", id="err-plot")
        yield Static("", id="p99-plot")

    _args: tuple | None = None  # the last request, drawn again once the widget has its size

    def on_resize(self) -> None:
        if self._args:
            self.draw(*self._args)

    def draw(self, component: str | None, session, now: datetime) -> None:
        self._args = (component, session, now)
        if component is None or session is None:
            return
        from mdm_console.client.session import BUCKET_SECONDS  # loaded after the first paint

        size = self.query_one("#err-plot").content_size
        key = (component, int(now.timestamp() // BUCKET_SECONDS), size.width, size.height)
        if key == self._drawn or size.width < 20 or size.height < 6:
            return  # unchanged, or not laid out yet (the next second draws it at its real size)
        self._drawn = key
        self._build(component, session, size.width, size.height)

    @work(exclusive=True, group="plots")
    async def _build(self, component: str, session, width: int, height: int) -> None:
        import asyncio

        try:
            data: Series = await session.series(component)  # the engine's windows, or the service's answer
        except Exception:  # noqa: BLE001 - a service that went away: the plots keep their last picture
            self._drawn = None
            return

        def build() -> tuple[str, str]:
            return (render(f"{component}: error rate % (5 s buckets)", {k: (v[0], v[1]) for k, v in data.items()},
                           width, height),
                    render(f"{component}: p99 ms (5 s buckets)", {k: (v[0], v[2]) for k, v in data.items()},
                           width, height))

        self._show(component, await asyncio.to_thread(build))

    _shown: tuple | None = None  # the pictures on display: a quiet feed redraws the same ones

    def _show(self, component: str, texts: tuple[str, str]) -> None:
        if (component, texts) == self._shown:
            return
        self._shown = (component, texts)
        for wid, title, text in (("#err-plot", "error rate %", texts[0]), ("#p99-plot", "p99 ms", texts[1])):
            w = self.query_one(wid, Static)
            w.border_title = f"{component}: {title}"
            w.update(Text.from_ansi(text), layout=False)  # the size is the widget's, not the picture's
