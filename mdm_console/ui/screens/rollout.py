"""2 Rollout: each component's ladder, the gates of its next step with live values, points."""

from __future__ import annotations

from rich.text import Text

from mdm_console.ui.safe import escape
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Vertical, VerticalScroll
from textual.widgets import DataTable, Header, Static

from mdm_console.ui.screens.base import ConsoleScreen, refill, selected_key, set_text
from mdm_console.ui.tones import toned
from mdm_console.ui.widgets.footer import ConsoleFooter
from mdm_console.ui.widgets.status_line import StatusLine


class RolloutScreen(ConsoleScreen):
    """Stages and gates.

    BINDINGS:
    - a: advance the selected component (a failing gate asks for a typed reason)
    - b: step back one stage (confirm)
    - p: pause / resume auto-advance
    """

    TITLE_TEXT = "Rollout"
    BINDINGS = [
        Binding("a", "advance", "Advance", id="rollout.advance"),
        Binding("b", "step_back", "Step back", id="rollout.step_back"),
        Binding("p", "toggle_auto", "Pause/resume auto", id="rollout.toggle_auto"),
    ]
    DEFAULT_CSS = """
    RolloutScreen #components { height: auto; max-height: 12; border: round $primary; }
    RolloutScreen #gates-scroll { height: auto; max-height: 45%; border: round $accent; padding: 0 1; }
    RolloutScreen #points { height: 1fr; min-height: 5; border: round $secondary; }
    """

    def compose(self) -> ComposeResult:
        yield Header()
        yield StatusLine()
        with Vertical():
            yield DataTable(id="components", cursor_type="row")
            with VerticalScroll(id="gates-scroll"):  # the points stay in view below a long gate list
                yield Static(id="gates")
            yield DataTable(id="points", cursor_type="row")
        yield ConsoleFooter()

    def on_mount(self) -> None:
        comps = self.query_one("#components", DataTable)
        comps.border_title = "Components" + (" (observing: read-only)" if self.session.observe else
                                             " (a advance · b step back · p auto)")
        comps.add_columns("component", "stage", "auto-advance", "stage began", "ladder")  # the long one last
        pts = self.query_one("#points", DataTable)
        pts.border_title = "Rollback points"
        pts.add_columns("id", "time (UTC)", "by", "kind", "label", "stages")
        self.refresh_view()

    @property
    def selected(self) -> str:
        return selected_key(self.query_one("#components", DataTable)) or self.session.plan.components[0].id

    def tick(self) -> None:
        self.refresh_view()

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        if event.data_table.id == "components":
            self._draw_gates()

    def refresh_view(self) -> None:
        e = self.session
        self.query_one(StatusLine).render_from(e, e.now())
        rows = []
        for c in e.plan.components:
            st = e.state.components[c.id]
            ladder = " › ".join(f"[reverse b] {s.name} [/]" if s.name == st.stage else s.name for s in e.plan.stages)
            stage = Text(f"{st.stage} {st.percent:g} %")
            if st.held:
                stage.append_text(toned(self.app, " ⚠ ROLLED BACK (held)", "bad", bold=True))
            rows.append((c.id, (c.id, stage, "on" if st.auto_advance else "off",
                                (st.stage_since or "-")[:19].replace("T", " "), ladder)))
        refill(self.query_one("#components", DataTable), rows)
        self._draw_gates()
        points = []
        for p in reversed(list(e.state.points.values())):
            stages = stages_text(p["stages"])
            points.append((p["id"], (p["id"], p["ts"][:19].replace("T", " "), escape(p["by"]),
                                     "auto" if p["auto"] else "manual", escape(p["label"]), stages)))
        refill(self.query_one("#points", DataTable), points)

    def _draw_gates(self) -> None:
        e = self.session
        cid = self.selected
        nxt = e.next_stage(cid)
        head = f"[b]{cid}[/b]: " + (f"gates to advance to {nxt[0]} ({nxt[1]:g} %)" if nxt else "at the last stage")
        lines = [head]
        for g in e.gates(cid):
            mark = "[$text-success]✔ holds[/]" if g.ok else "[$text-error]✘ fails[/]"
            lines.append(f"  {mark}  {g.name:<13} {escape(g.reason)}")
        lines += verdict_lines(e.verdict(cid) if e.live else None)
        set_text(self.query_one("#gates", Static), "\n".join(lines))

    def action_advance(self) -> None:
        self.app.advance(self.selected)

    def action_step_back(self) -> None:
        self.app.step_back(self.selected)

    def action_toggle_auto(self) -> None:
        self.app.toggle_auto(self.selected)


def stages_text(stages: dict[str, dict]) -> str:
    """Where a rollback point found the components: each by name when few, else counted per stage ("400
    components: 398 testing, 2 canary"), so the cell says it all and is not cut after the fifth."""
    if len(stages) <= 4:
        return ", ".join(f"{k}={v['stage']}" for k, v in stages.items())
    counts: dict[str, int] = {}
    for v in stages.values():
        counts[v["stage"]] = counts.get(v["stage"], 0) + 1
    return f"{len(stages)} components: " + ", ".join(f"{n} {stage}" for stage, n in
                                                     sorted(counts.items(), key=lambda kv: -kv[1]))


def ratio_text(ratio, low, high) -> str:
    """A ratio and its confidence sequence ("x1.10 [0.80, 1.52]"; an open end is shown as such)."""
    if ratio is None:
        return "ratio -"
    hi = "∞" if high is None or high == float("inf") else f"{high:.2f}"
    return f"x{ratio:.2f} [{(low or 0):.2f}, {hi}]"


def verdict_lines(v) -> list[str]:
    """The canary verdict and how it was computed (counts, interval, test), for the selected component."""
    if v is None:
        return ["  canary verdict: - (no traffic on the new path in this stage)"]
    e = v.errors
    out = [f"  canary verdict: [b]{escape(v.verdict)}[/b]",
           f"    extra error rate of the new path: {escape(e.text())}; new {e.new_errors}/{e.new_ops}, old "
           f"{e.old_errors}/{e.old_ops} since the stage began; {ratio_text(e.ratio, e.ratio_low, e.ratio_high)} "
           f"within {e.strata} interval(s) with errors (stratified, anytime-valid)"]
    if v.latency is not None:
        lat = v.latency
        out.append(f"    latency p50 shift (Hodges-Lehmann, descriptive): {escape(lat.text())}; n new {lat.new_n}, "
                   f"old {lat.old_n}; odds of slower than the interval's p{lat.quantile * 100:g}, new against old: "
                   f"{ratio_text(lat.ratio, lat.ratio_low, lat.ratio_high)}")
    return out
