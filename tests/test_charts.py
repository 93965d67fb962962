"""The dashboard's charts tell the truth at a glance: one mark per 5 s bucket, new and old path told apart, the
alert levels and the gate as lines, from 0, labels that fit, gaps where no data came, the window in the title."""

from __future__ import annotations

import re

from rich.style import Style

from mdm_console.ui.widgets.chart import Level, Path, draw
from mdm_console.ui.widgets.plots import paths_of

STYLES = {"busy": Style(color="blue"), "accent": Style(color="yellow"), "warn": Style(color="yellow"),
          "bad": Style(color="red"), "ok": Style(color="green"), "quiet": Style(dim=True)}


def plain(lines) -> list[str]:
    return [line.plain for line in lines]


def test_no_errors_is_an_axis_from_zero_not_minus_one_to_one():
    lines, shown = draw([Path("old path", {k: 0.0 for k in range(60)}, "accent", False)], [], 72, 10, 60, STYLES)
    text = plain(lines)
    labels = [m.group(1) for t in text[:-2] if (m := re.match(r"\s*([-\d.]+)┤", t))]
    assert labels[-1] in ("0", "0.0", "0.00") and all(not x.startswith("-") for x in labels), labels
    assert shown == 60 and "-300s" in text[-2] and text[-2].rstrip().endswith("now")


def test_one_mark_per_bucket_new_as_bars_old_as_a_line_and_gaps_where_nothing_came():
    new = {k: 2.0 for k in range(0, 30) if not 10 <= k < 15}
    old = {k: 1.0 for k in range(0, 30) if not 10 <= k < 15}
    lines, shown = draw([Path("new path", new, "busy", True), Path("old path", old, "accent", False)], [],
                        34, 8, 30, STYLES)
    text = plain(lines)
    width = len(text[0])
    plot = [t[-30:] for t in text[:-2]]  # one column per bucket, the newest on the right
    assert shown == 30 and width == 34
    columns = ["".join(row[c] for row in plot) for c in range(30)]
    for c, col in enumerate(columns):
        k = 29 - c
        if 10 <= k < 15:
            assert col.strip() == "", (k, col)  # a gap: nothing made up
        else:
            assert "━" in col and any(ch in col for ch in "▁▂▃▄▅▆▇█"), (k, col)
    axis = text[-2][-30:]
    assert axis[29 - 12] == " " and axis[29 - 3] == "─"  # the axis is broken under the gap
    assert "█ new path" in text[-1] and "━ old path" in text[-1]


def test_levels_are_lines_named_in_the_legend_and_above_the_line_reads():
    levels = [Level("warning", 2.0, "warn"), Level("critical", 5.0, "bad"), Level("gate", 5.0, "ok")]
    lines, _ = draw([Path("new path", {0: 9.0, 1: 1.0}, "busy", True)], levels, 40, 12, 60, STYLES)
    text = plain(lines)
    warn_rows = [i for i, t in enumerate(text[:-2]) if "┄" in t]
    assert len(warn_rows) == 2  # the critical level and the gate share a row
    tall = [i for i, t in enumerate(text[:-2]) if t[-1] in "▁▂▃▄▅▆▇█"]
    assert min(tall) < min(warn_rows)  # 9 % draws above the critical line
    short = [i for i, t in enumerate(text[:-2]) if t[-2] in "▁▂▃▄▅▆▇█"]
    assert min(short) > max(warn_rows)  # 1 % stays under the warning line
    assert "┄ warning 2" in text[-1] and "┄ critical 5" in text[-1]
    labels = [t.split("┤")[0].strip() for t in text[:-2] if "┤" in t]
    assert labels == ["10", "5", "0"]  # fit their values: no "-155.8"


def test_a_plot_narrower_than_the_window_says_how_much_it_shows():
    lines, shown = draw([Path("new path", {k: 100.0 for k in range(60)}, "busy", True)], [], 30, 8, 60, STYLES)
    assert shown < 60 and f"-{shown * 5}s" in lines[-2].plain


def test_the_series_buckets_map_to_one_index_each():
    data = {"new path": ([-4.2, -9.2, -19.2], [1.0, 2.0, 3.0], [10.0, 20.0, 30.0]),
            "old path": ([-4.2], [0.5], [8.0])}
    paths = paths_of(data, 1, 5.0)
    assert [(p.name, p.bar, p.values) for p in paths] == [
        ("new path", True, {0: 1.0, 1: 2.0, 3: 3.0}), ("old path", False, {0: 0.5})]
