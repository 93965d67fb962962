"""Error rate and p99 of one component over the window (textual-plotext, loaded lazily so
plotting stays off the start-up path)."""

from __future__ import annotations

from datetime import datetime

from textual.containers import Horizontal
from textual.widgets import Static


class ComponentPlots(Horizontal):
    DEFAULT_CSS = """
    ComponentPlots { height: 14; }
    ComponentPlots > * { width: 1fr; border: round $secondary; }
    """

    def on_mount(self) -> None:
        self.mount(Static("loading plots…", id="plots-loading"))
        self.call_after_refresh(self._load)

    def _load(self) -> None:
        from textual_plotext import PlotextPlot

        self.query("#plots-loading").remove()
        self.mount(PlotextPlot(id="err-plot"), PlotextPlot(id="p99-plot"))

    def draw(self, component: str | None, monitor, now: datetime) -> None:
        plots = self.query("PlotextPlot")
        if len(plots) < 2 or component is None or monitor is None:
            return
        err, lat = plots[0], plots[1]
        w = monitor.windows
        t_now = now.timestamp()
        since = t_now - w.window_seconds
        by_start: dict[int, list] = {}
        for (start, comp, _), b in w.buckets.items():
            if comp == component and start >= since:
                acc = by_start.setdefault(start, [0, 0, None])
                acc[0] += b.ops
                acc[1] += b.error
                p = b.sketch.quantile(0.99) if b.sketch.count else b.reported_p99
                if p is not None:
                    acc[2] = max(acc[2] or 0, p)
        starts = sorted(by_start)
        xs = [s - t_now for s in starts]
        for plot, title, ys in (
            (err, f"{component}: error rate % (5 s buckets)", [100 * a[1] / a[0] if a[0] else 0 for a in
                                                              (by_start[s] for s in starts)]),
            (lat, f"{component}: p99 ms (5 s buckets)", [by_start[s][2] or 0 for s in starts]),
        ):
            plt = plot.plt
            plt.clear_data()
            plt.title(title)
            plt.xlabel("seconds ago")
            if xs:
                plt.plot(xs, ys, marker="braille")
            plot.border_title = title
            plot.refresh()
