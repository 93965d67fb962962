"""The dashboard's component table: live health with the age of every figure, STALE plainly."""

from __future__ import annotations

from datetime import datetime

from textual.widgets import DataTable

from mdm_console.ui.screens.base import refill, selected_key, set_titles
from mdm_console.ui.safe import escape
from mdm_console.ui.tones import toned


AGE_EXACT_S = 20  # ages below this read to the second (a feed goes stale after 15 s by default)


def age_text(measured: datetime | None, now: datetime, within: float = 0) -> str:
    """How old a figure is. `within`: the source's own sampling interval; a figure younger than that is as fresh
    as the source makes them ("<2s ago"), so the text does not tick every second for nothing. Past AGE_EXACT_S an
    age is counted in the figures' own 5-second buckets (now's bucket less the sample's: within 5 s of the exact
    age, never going back), so every row's age moves at the same moment as the window does, once per 5 s: any
    changed cell draws the whole health table again (Textual's DataTable renders every visible cell), and quiet
    components' ages ticking at different seconds were the largest part of an idle 400-component console's CPU
    (benchmarks/scale.py)."""
    if measured is None:
        return "never"
    age = max(0.0, (now - measured).total_seconds())
    if age < within:
        return f"<{within:g}s ago"
    secs = int(age)
    if secs >= AGE_EXACT_S:
        from mdm_console.client.session import BUCKET_SECONDS as step  # loaded with the session, after the first paint

        secs = max(AGE_EXACT_S, int(now.timestamp() // step - measured.timestamp() // step) * step)
    return f"{secs}s ago" if secs < 120 else f"{secs // 60}m ago" if secs < 7200 else f"{secs // 3600}h ago"


def worst_level(alerts) -> str | None:
    """The worst level among the component's active alerts: the levels the engine judged (its hysteresis,
    for_seconds, minimum sample and the stage's evidence), never judged again here from the raw figures (three
    slow requests at a fresh stage are no CRITICAL)."""
    found = {a["level"] for a in alerts}
    return "critical" if found & {"critical", "error"} else "warning" if "warning" in found else None


def short_pct(x: float | None) -> str:
    return "-" if x is None else f"{x * 100:.2f}%"


def ms(path) -> str:
    if path.p99_ms is None:
        return "-"
    return f"{path.p99_ms:.0f}ms" + ("" if path.p99_method.startswith("sketch") else "*")


# (key, label, width) in display order; PRIORITY says which stay when the table is narrow. The widths are fixed
# (a table of 400 rows re-measured every column whenever a figure changed; benchmarks/scale.py); the component
# column is as wide as the plan's longest id, up to COMPONENT_MAX.
COLUMNS = [("component", "component", 12), ("status", "status", 13), ("stage", "stage", 12),
           ("policy", "policy err", 10), ("new_err", "new err", 7), ("old_err", "old err", 7),
           ("new_p99", "new p99", 7), ("old_p99", "old p99", 7), ("new_ops", "new ops", 7), ("old_ops", "old ops", 7),
           ("verdict", "verdict (new - old)", 22), ("age", "from", 8)]
PRIORITY = ["component", "status", "policy", "stage", "new_err", "old_err", "age", "new_p99", "old_p99", "verdict",
            "new_ops", "old_ops"]
COMPONENT_MAX = 24

# Worst first: the order of the rows, and the words the summary counts them by.
ORDER = ["rolled back", "critical", "stale", "warning", "no data", "ok"]


def fitting(width: int, component_width: int = 12) -> list[str]:
    """The columns that fit in `width` cells, the most important first, shown in display order."""
    wide = {k: w + 2 for k, _, w in COLUMNS}  # a cell's padding
    wide["component"] = component_width + 2
    keep, used = [], 0
    for key in PRIORITY:
        if used + wide[key] <= width or len(keep) < 3:
            keep.append(key)
            used += wide[key]
    return [k for k, _, _ in COLUMNS if k in keep]


class HealthTable(DataTable):
    """Each component's new path beside its old one (error %, p99, operations over the window), so a canary
    failing at 5 % is not hidden in the blend; the columns that do not fit are dropped, least important first.

    Rows are worst first (rolled back, critical, stale, warning, no data, ok; then in plan order), `matching`
    keeps the components whose id, title, stage or status contain it, and the title says which rows of how many
    are on screen ("1-9 of 400")."""

    DEFAULT_CSS = """
    HealthTable { height: auto; max-height: 12; border: round $primary; }
    """

    shown: list[str] = []
    matching = ""  # the operator's filter (any case)
    component_width = 12
    counts: dict[str, int] = {}  # status word -> components (all of them, not only the matching)
    total = 0

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._rows: dict[str, tuple] = {}  # component -> (inputs, rank, row, blended): made again when they change
        self._ages: dict[str, tuple] = {}  # component -> (the age its row shows, the cells without, with it)
        self._given: dict[str, tuple] = {}  # component -> the cells its row was last given

    def on_mount(self) -> None:
        self.cursor_type = "row"
        self._columns_for(self.size.width or 200)

    def on_resize(self) -> None:
        self._columns_for(self.size.width)
        if self._drawn is not None:  # more rows may be in view: they get their figures (refresh_from)
            self.refresh_from(*self._drawn)

    def _columns_for(self, width: int) -> None:
        want = fitting(max(0, width - 4), self.component_width)
        if want == self.shown:
            return
        self.shown = want
        self.clear(columns=True)
        self._rows, self._ages, self._given, self._ranked = {}, {}, {}, None
        for key, label, w in COLUMNS:
            if key in want:
                self.add_column(label, key=key, width=self.component_width if key == "component" else w)
        if self._drawn is not None:
            self.refresh_from(*self._drawn)  # the rows went with the columns: draw them again now

    _drawn: tuple | None = None
    _ranked: tuple | None = None  # (what the rows were made from, the plan, (the rows worst first, blended, counts))

    def refresh_from(self, session, now: datetime) -> None:
        self._drawn = (session, now)
        plan = session.plan
        widest = min(COMPONENT_MAX, max(9, *(len(c.id) for c in plan.components)))
        if widest != self.component_width:
            self.component_width, self.shown = widest, []
            self._columns_for(self.size.width or 200)
            return
        window = plan.metrics.window_seconds
        needle = self.matching.casefold()
        # Every row is made from the session's state (stages, alerts: its head), the components' figures and
        # verdicts (figures_key), the theme, the filter and the columns: when none of them moved since the last
        # pass, neither did any row or the order. A quiet feed's 400 components were asked for their figures every
        # second for nothing (benchmarks/scale.py, the idle CPU).
        figures = session.figures_key()
        inputs = None if figures is None else (figures, session.state.head_seq, self.app.theme, needle,
                                                 tuple(self.shown), session.live)
        if inputs is not None and self._ranked is not None and self._ranked[0] == inputs and self._ranked[1] is plan:
            ranked, blended, counts = self._ranked[2]
        else:
            by_component: dict[str, list[dict]] = {}
            for key, alert in session.state.alerts.items():
                by_component.setdefault(key.rsplit(":", 1)[-1], []).append(alert)
            ranked, blended, counts = [], False, dict.fromkeys(ORDER, 0)
            for n, c in enumerate(plan.components):
                rank, row, mixed = self._row(session, c, by_component.get(c.id, []))
                blended |= mixed
                counts[ORDER[rank]] += 1
                if needle and not any(needle in str(x).casefold() for x in (c.id, c.title, ORDER[rank], row[2])):
                    continue
                ranked.append((rank, n, row))
            ranked.sort(key=lambda r: r[:2])
            self._ranked = (inputs, plan, (ranked, blended, counts))  # the plan itself: a reloaded one is another
        self.counts, self.total = counts, len(plan.components)
        # Only the rows on screen (and a few either side) get their figures and ages; a row out of view keeps what
        # it shows, its component's name alone until it was first in view, and is drawn as it scrolls into view
        # (watch_scroll_y). The order is kept current for every row. Any changed cell repaints the whole table (at
        # 400 components some row's figures change every second as the window moves), and DataTable measures
        # every cell of every row it is given (400 rows of nine cells held the first figures back by a third of
        # a second): benchmarks/scale.py.
        top = int(self.scroll_y) - 2
        bottom = top + self.scrollable_content_region.height + 4
        at = self.shown.index("age") if "age" in self.shown else None
        rows = []
        for pos, (_, _, (c_id, cells, _, w)) in enumerate(ranked):
            if not top <= pos <= bottom:
                given = self._given.get(c_id)
                if given is None:
                    given = self._given[c_id] = tuple(c_id if k == "component" else "" for k in self.shown)
                rows.append((c_id, given))
                continue
            if w is not None and at is not None:
                kept = self._ages.get(c_id)
                age = age_text(w.measured_at, now)
                if kept is None or kept[0] != age or kept[1] is not cells:  # the same tuple when nothing moved
                    kept = self._ages[c_id] = (age, cells, (*cells[:at], age, *cells[at + 1:]))
                cells = kept[2]
            self._given[c_id] = cells
            rows.append((c_id, cells))
        refill(self, rows, keep_top=True, sort_column="component")
        self._titles(window, blended)

    def _row(self, session, c, alerts: list[dict]) -> tuple[int, tuple, bool]:
        """(rank, (id, cells but the age, stage text, figures), blended) of one component, made again only when what
        it shows changed."""
        st = session.state.components[c.id]
        held = st.held is not None
        w = session.stats(c.id) if session.live else None
        verdict = session.verdict(c.id) if session.live else None
        inputs = (st.stage, st.percent, held, w, verdict, tuple(a["level"] for a in alerts), self.app.theme)
        kept = self._rows.get(c.id)
        if kept is not None and kept[0] == inputs:
            return kept[1], kept[2], kept[3]
        stage = f"{st.stage} {st.percent:g}%"
        cells = {"component": c.id, "stage": stage}
        mark = ""
        if w is None:
            rank = 0 if held else ORDER.index("no data")
            cells["status"] = toned(self.app, "⚠ ROLLED BACK", "bad", bold=True) if held else "NO FEED"
        else:
            primary = w.primary
            mark = "~" if primary.path == "unknown" else ""
            if held:
                rank, status = 0, toned(self.app, "⚠ ROLLED BACK", "alarm")
            elif w.stale_reason:
                rank, status = ORDER.index("stale"), toned(self.app, "⚠ STALE", "alarm")
            elif w.ops == 0:
                rank, status = ORDER.index("no data"), "NO DATA"
            else:
                level = worst_level(alerts)
                word, tone = {"critical": ("✘ CRITICAL", "bad"), "warning": ("▲ WARNING", "warn")}.get(
                    level, ("✔ OK", "ok"))
                rank = ORDER.index(level or "ok")
                status = toned(self.app, word, tone, bold=tone != "ok")
            cells["verdict"] = verdict.brief() if verdict else "-"
            pol = w.policy
            cells["policy"] = "-" if pol is None else mark + short_pct(pol.error_rate)
            cells.update(status=status, new_err=mark + short_pct(primary.error_rate), new_p99=mark + ms(primary),
                         new_ops=mark + str(primary.ops), old_err=short_pct(w.old.error_rate),
                         old_p99=ms(w.old), old_ops=str(w.old.ops))
        row = (c.id, tuple(cells.get(k, "-") for k in self.shown), stage, w)
        self._rows[c.id] = (inputs, rank, row, bool(mark))
        return rank, row, bool(mark)

    def _titles(self, window: float, blended: bool) -> None:
        rows = self.row_count
        first = min(rows, int(self.scroll_y) + 1)
        last = min(rows, int(self.scroll_y) + max(1, self.scrollable_content_region.height - self.header_height))
        shown = f"{first}-{last} of {rows}" if rows else "0 of 0"
        if self.matching:
            shown += f" matching \"{escape(self.matching)}\" ({self.total} in all)"
        elif rows:
            shown += " worst first"
        summary = " · ".join(f"{n} {word}" for word, n in self.counts.items() if n)
        policy = self.app_policy_window()
        set_titles(self, f"Components {shown} · paths over the stage's last {window:g} s · policy err: new path, "
                         f"last {policy:g} s",
                   summary + (" · ~ both paths: the feed gives no variant" if blended else ""))

    def app_policy_window(self) -> float:
        drawn = self._drawn
        return drawn[0].plan.alerts.auto_rollback.window_seconds if drawn is not None else 30.0

    def watch_scroll_y(self, old_value: float, new_value: float) -> None:
        super().watch_scroll_y(old_value, new_value)
        if self._drawn is not None and int(old_value) != int(new_value):
            self.refresh_from(*self._drawn)  # the rows coming into view get their current ages

    def filter(self, text: str) -> None:
        """Keep the components whose id, title, stage or status contain `text` (any case; empty: all)."""
        self.matching = text.strip()
        if self._drawn is not None:
            self.refresh_from(*self._drawn)
            self.move_cursor(row=0)

    @property
    def selected(self) -> str | None:
        return selected_key(self)
