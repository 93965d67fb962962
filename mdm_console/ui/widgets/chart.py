"""A bar chart of one figure per 5 s bucket, drawn as text: what an operator reads at a glance.

- One mark per bucket: the new path as a bar, the old path (the baseline) as a line mark at its value, so the
  two are told apart by shape as well as by the theme's colours.
- The y axis starts at 0 and ends just above the highest value or level; its labels fit their values.
- The alert levels and the gate threshold are horizontal lines (`┄`), named in the legend: "above the line"
  reads at once.
- A bucket in which no data came is a gap (nothing drawn, the axis broken under it), never a made-up value.
- The newest bucket is on the right; when the plot is narrower than the window it shows the newest buckets
  that fit and says how many seconds that is (the caller puts it in the title).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from itertools import groupby
from operator import itemgetter

from rich.style import Style
from rich.text import Text

EIGHTHS = " ▁▂▃▄▅▆▇█"


@dataclass(frozen=True)
class Level:
    label: str  # "warning", "critical", "gate"
    value: float
    tone: str  # a tone of ui/tones.py


@dataclass(frozen=True)
class Path:
    name: str  # "new path", "old path", "no variant"
    values: dict[int, float]  # bucket index (0: the newest, k: k buckets ago) -> value
    tone: str | None
    bar: bool  # drawn as bars (else as a line mark)


def nice_top(v: float) -> float:
    """The smallest 1, 2, 2.5 or 5 times a power of ten at or above v (and above 0)."""
    if v <= 0:
        return 1.0
    exp = math.floor(math.log10(v))
    for m in (1, 2, 2.5, 5, 10):
        top = m * 10 ** exp
        if top >= v * (1 - 1e-9):
            return top
    return 10 ** (exp + 1)


def label(v: float, top: float) -> str:
    """A y-axis label with as many decimals as the scale needs (never "-155.8" on a 0-1 axis)."""
    if top >= 10:
        return f"{v:.0f}"
    if top >= 1:
        return f"{v:.1f}"
    return f"{v:.2f}"


def buckets_shown(width: int, window_buckets: int) -> tuple[int, int]:
    """(buckets shown, columns per bucket) for a plot area `width` wide."""
    n = max(1, min(window_buckets, width))
    return n, max(1, min(3, width // n))


def draw(paths: list[Path], levels: list[Level], width: int, height: int, window_buckets: int,
         styles: dict[str, Style], bucket_s: float = 5.0) -> tuple[list[Text], int]:
    """The chart as lines of text `width` wide and `height` high, and how many buckets it shows."""
    height = max(height, 4)
    rows = height - 2  # the last two: the time axis and the legend
    values = [v for p in paths for v in p.values.values()] + [lv.value for lv in levels]
    top = nice_top(max(values, default=0.0))
    # Row r (0: the top) spans the values [(rows-1-r), (rows-r)] * top / rows; a label names a row's upper edge
    # (the bottom row also its lower one, 0), and the middle one only where it is exactly top / 2.
    ticks = {0: label(top, top), rows - 1: label(0, top)}
    if rows % 2 == 0 and rows >= 4:
        ticks[rows // 2] = label(top / 2, top)
    lw = max(len(t) for t in ticks.values())
    plot_w = max(1, width - lw - 1)
    n, bw = buckets_shown(plot_w, window_buckets)
    left = plot_w - n * bw  # unused columns on the left
    grid: list[list[tuple[str, Style | None]]] = [[(" ", None)] * plot_w for _ in range(rows)]

    def row_of(v: float) -> int:
        """The row whose span holds v (a value on an edge: the row below it)."""
        return rows - max(1, min(rows, math.ceil(v / top * rows - 1e-9)))

    def cols(k: int) -> range:
        start = left + (n - 1 - k) * bw
        return range(start, start + bw)

    quiet = styles.get("quiet")
    for lv in levels:
        if lv.value <= top:
            r = row_of(lv.value)
            for c in range(left, plot_w):
                grid[r][c] = ("┄", styles.get(lv.tone))
    for p in paths:
        style = styles.get(p.tone or "")
        for k, v in p.values.items():
            if not 0 <= k < n:
                continue
            if p.bar:
                eighths = v / top * rows * 8
                for r in range(rows):
                    fill = max(0, min(8, round(eighths - (rows - 1 - r) * 8)))
                    if fill:
                        for c in cols(k):
                            grid[r][c] = (EIGHTHS[fill], style)
                if v > 0 and eighths < 1:  # above zero but under one eighth: still show that something came
                    for c in cols(k):
                        grid[rows - 1][c] = (EIGHTHS[1], style)
            else:
                r = row_of(v)
                for c in cols(k):
                    under = grid[r][c]
                    bg = under[1].color if under[0] in EIGHTHS[1:] and under[1] is not None else None
                    grid[r][c] = ("━", (style or Style()) + Style(bgcolor=bg) if bg else style)
    lines = []
    for r in range(rows):
        line = Text(ticks.get(r, "").rjust(lw) + "┤" if r in ticks else " " * lw + "│", style=quiet or "")
        for st, run in groupby(grid[r], key=itemgetter(1)):  # one span per run of a style, not one per cell
            line.append("".join(ch for ch, _ in run), st or "")
        lines.append(line)
    # The time axis: broken under buckets where no data came.
    seen = set().union(*(p.values.keys() for p in paths)) if paths else set()
    axis = [" "] * plot_w
    for k in range(n):
        for c in cols(k):
            axis[c] = "─" if k in seen else " "
    start, end = f"-{n * bucket_s:g}s", "now"
    if plot_w - left >= len(start) + len(end) + 2:
        axis[left:left + len(start)] = list(start)
        axis[plot_w - len(end):] = list(end)
    lines.append(Text(" " * lw + "└" + "".join(axis), style=quiet or ""))
    legend = Text()
    for p in paths:
        legend.append("█" if p.bar else "━", styles.get(p.tone or "") or "")
        legend.append(f" {p.name}  ")
    for lv in levels:
        legend.append("┄", styles.get(lv.tone) or "")
        legend.append(f" {lv.label} {lv.value:g}  ")
    if not paths:
        legend.append("no data in the window", quiet or "")
    legend.truncate(width, overflow="ellipsis")
    lines.append(legend)
    return lines, n
