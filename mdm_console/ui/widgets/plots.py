"""Error rate and p99 of one component over the window: one bar (new path) and one line mark (old path) per
5 s bucket, the alert levels and the gate threshold as lines, gaps where no data came (widgets/chart.py)."""

from __future__ import annotations

from datetime import datetime

from textual import work
from textual.containers import Horizontal
from textual.widgets import Static

from mdm_console.ui.screens.base import set_titles
from mdm_console.ui.tones import styles
from mdm_console.ui.widgets.chart import Level, Path, draw

Series = dict[str, tuple[list[float], list[float], list[float]]]  # path -> seconds ago, error %, p99 ms


def paths_of(data: Series, which: int, bucket_s: float) -> list[Path]:
    """The series' paths as chart paths: bucket index (0: the newest) -> value. The new path is drawn as bars,
    the old path as a line mark; operations without a variant as bars only when there is no new path."""
    out = []
    for name, cols in sorted(data.items(), key=lambda kv: {"new path": 0, "no variant": 1}.get(kv[0], 2)):
        values = {int(-x // bucket_s): v for x, v in zip(cols[0], cols[which], strict=False)}
        bar = name == "new path" or (name == "no variant" and "new path" not in data)
        out.append(Path(name, values, {"new path": "busy", "old path": "accent"}.get(name), bar))
    return out


def levels_of(plan, component: str, which: str) -> list[Level]:
    """The alert levels and the gate threshold drawn on a plot, in its unit."""
    if which == "error":
        lv = plan.alerts.error_rate
        return [Level("warning", lv.warning * 100, "warn"), Level("critical", lv.critical * 100, "bad"),
                Level("gate", plan.gate_for(component).max_error_rate * 100, "ok")]
    lv = plan.alerts.latency_p99_ms
    return [Level("warning", lv.warning, "warn"), Level("critical", lv.critical, "bad")]


class ComponentPlots(Horizontal):
    DEFAULT_CSS = """
    ComponentPlots { height: 1fr; min-height: 8; }
    ComponentPlots > Static { width: 1fr; height: 1fr; border: round $secondary; }
    """

    _drawn: tuple | None = None  # (component, 5 s bucket, size) on display: redraw only when it changes
    _args: tuple | None = None  # the last request, drawn again once the widget has its size

    def compose(self):
        yield Static("waiting for data…", id="err-plot")
        yield Static("", id="p99-plot")

    def on_resize(self) -> None:
        if self._args:
            self.draw(*self._args)

    def draw(self, component: str | None, session, now: datetime) -> None:
        self._args = (component, session, now)
        if component is None or session is None:
            return
        from mdm_console.client.session import BUCKET_SECONDS  # loaded after the first paint

        size = self.query_one("#err-plot").content_size
        key = (component, int(now.timestamp() // BUCKET_SECONDS), size.width, size.height, self.app.theme)
        if key == self._drawn or size.width < 12 or size.height < 4:
            return  # unchanged, or not laid out yet (the next second draws it at its real size)
        self._drawn = key
        self._build(component, session, size.width, size.height)

    @work(exclusive=True, group="plots")
    async def _build(self, component: str, session, width: int, height: int) -> None:
        from mdm_console.client.session import BUCKET_SECONDS

        try:
            data: Series = await session.series(component)  # the engine's windows, or the service's answer
        except Exception:  # noqa: BLE001 - a service that went away: the plots keep their last picture
            self._drawn = None
            return
        window = session.plan.metrics.window_seconds
        buckets = max(1, int(window // BUCKET_SECONDS))
        tones = styles(self.app)
        for wid, what, which, unit in (("#err-plot", "error", 1, "error %"), ("#p99-plot", "p99", 2, "p99 ms")):
            lines, shown = draw(paths_of(data, which, BUCKET_SECONDS), levels_of(session.plan, component, what),
                                width, height, buckets, tones, BUCKET_SECONDS)
            span = shown * BUCKET_SECONDS
            w = self.query_one(wid, Static)
            set_titles(w, f"{component}: {unit} · last {span:g}" + (f" of {window:g} s" if span < window else " s"))
            picture = lines[0].copy()
            for line in lines[1:]:
                picture.append("\n")
                picture.append_text(line)
            shown_as = (picture.plain, self.app.theme)  # a quiet feed draws the same picture: no update
            if shown_as != getattr(w, "shown_as", None):
                w.shown_as = shown_as
                w.update(picture, layout=False)  # the size is the widget's, not the picture's
