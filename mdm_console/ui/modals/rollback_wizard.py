"""The rollback wizard: kind -> component / stage / point -> dry-run preview -> typed confirm
word -> live progress of the changes and verification -> result with elapsed time vs target."""

from __future__ import annotations

import asyncio

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from mdm_console.exits import OpFailed
from mdm_console.ui.safe import escape
from mdm_console.ui.screens.base import set_text

CONFIRM_WORD = "ROLLBACK"
KINDS = [("full", "full"), ("component", "component"), ("flags only", "flags"), ("config only", "config")]
WHAT = {"full": "full: every component to 0 %, the plan's config files restored",
        "component": "component: one component to an earlier stage (choose it; default: the first stage)",
        "flags": "flags only: the flag file to a point's stages (default: the newest point)",
        "config": "config only: the plan's snapshot files to a point (default: the newest point)"}


class RollbackWizard(ModalScreen[None]):
    """Roll back, seeing every change first.

    BINDINGS:
    - escape: close (not while it runs)
    """

    DEFAULT_CSS = """
    RollbackWizard { align: center middle; }
    RollbackWizard > Vertical { width: 100%; max-width: 120; height: 100%; max-height: 48; border: thick $error;
                                background: $surface; padding: 0 1; }
    RollbackWizard #choices { height: auto; }
    RollbackWizard #choices Select { width: 1fr; }
    RollbackWizard #state { height: auto; padding: 0 1; background: $boost; text-style: bold; }
    RollbackWizard #state.-done { background: $success 30%; }
    RollbackWizard #state.-failed { background: $error 30%; }
    RollbackWizard #preview { height: 1fr; min-height: 3; border: round $panel; padding: 0 1; }
    RollbackWizard #confirm-row { height: auto; }
    RollbackWizard #confirm-row Input { width: 1fr; }
    RollbackWizard #confirm-row Button { width: auto; min-width: 8; margin-left: 1; }
    RollbackWizard #error { color: $error; height: auto; }
    RollbackWizard Horizontal { height: auto; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="wizard.close")]

    def __init__(self, session, *, kind: str | None = None, component: str | None = None, reason: str = "",
                 answers: int | None = None):
        super().__init__()
        self.session = session
        self.prefill = (kind, component, reason)
        self.answers = answers  # the policy's proposal this wizard answers (its seq): the rollback accepts it
        self.running = False
        self.plan = None
        self.seen: dict[str, str] = {}  # the stages the preview was made from

    def compose(self) -> ComposeResult:
        e = self.session
        kind, comp, reason = self.prefill
        with Vertical():
            yield Label("[b]Rollback wizard[/b]" + (f" — proposed: {escape(reason)}" if reason else ""))
            with Horizontal(id="choices"):
                yield Select(KINDS, prompt="kind", id="kind", value=kind or Select.NULL)
                yield Select([(c.id, c.id) for c in e.plan.components], prompt="component", id="component",
                             value=comp or Select.NULL)
                yield Select([(s.name, s.name) for s in e.plan.stages], prompt="to stage",
                             id="stage")
                yield Select([(f"{p['id']} {p['label'][:30]}", p["id"]) for p in e.state.points.values()],
                             prompt="point", id="point")
            yield Input(value=reason, placeholder="reason (recorded)", id="reason")
            yield Static("Choose a kind.", id="state")
            with VerticalScroll(id="preview"):
                yield Static("Choose a kind: the dry run of every change shows here. Without a stage a component goes "
                             "back to the first stage; without a point each kind uses its own default (full: the "
                             "start, flags and config: the newest point).", id="preview-text")
            yield Static("", id="error")
            with Horizontal(id="confirm-row"):
                yield Input(placeholder=f"type {CONFIRM_WORD} to run it", id="word")
                yield Button("Run rollback", id="run", variant="error")
                yield Button("Close", id="close")

    def on_mount(self) -> None:
        if self.prefill[0]:
            self._preview()

    def _request(self, dry_run: bool):
        from mdm_console.api.models import RollbackRequest

        kind = self.query_one("#kind", Select).value
        if kind is Select.NULL:
            return None

        def val(wid: str):
            v = self.query_one(wid, Select).value
            return None if v is Select.NULL else v

        component = val("#component")
        answers = self.answers if (kind, component) == ("component", self.prefill[1]) else None
        return RollbackRequest(kind=kind, component=component, to_stage=val("#stage"), point=val("#point"),
                               reason=self.query_one("#reason", Input).value.strip(), dry_run=dry_run,
                               answers=answers)

    @on(Select.Changed)
    def _changed(self) -> None:
        if not self.running:
            self._preview()

    @on(Input.Changed, "#word")
    def _typing(self) -> None:
        self._say_error("")  # "type ROLLBACK" no longer holds once the operator types

    def _say_error(self, text: str) -> None:
        set_text(self.query_one("#error", Static), escape(text))

    def _say_state(self, text: str, state: str = "") -> None:
        widget = self.query_one("#state", Static)
        set_text(widget, text)
        widget.set_class(state == "done", "-done")
        widget.set_class(state == "failed", "-failed")

    @work(exclusive=True, group="wizard-preview")
    async def _preview(self) -> None:
        req = self._request(dry_run=True)
        text = self.query_one("#preview-text", Static)
        self.plan = None
        if req is None:
            return
        self._say_state("Dry run…")
        try:
            plan = await self.session.call("rollback", req)
        except OpFailed as exc:
            self._say_error("")
            self._say_state("Cannot run: " + escape(exc.message), "failed")
            text.update("")
            return
        self._say_error("")
        # What the preview showed is what the confirm acts on: compare-and-set on the stages it was made from.
        comps = self.session.state.components
        self.seen = ({req.component: comps[req.component].stage} if req.kind == "component" and req.component
                     in comps else {} if req.kind == "config" else {cid: c.stage for cid, c in comps.items()})
        if plan.nothing_to_do:
            self._say_state(escape(plan.nothing_to_do))
            text.update("")
            return
        self.plan = plan
        parts = [escape(WHAT.get(req.kind, req.kind)), "", *map(escape, plan.lines)]
        if plan.flag_diff:
            parts += ["", "[b]flag file[/b]", escape(plan.flag_diff)]
        for diff in plan.file_diffs:
            parts += ["", escape(diff)]
        parts += ["", f"then the plan's rollback validators verify; target "
                      f"{self.session.plan.cutover.rollback_target_seconds:g} s"]
        text.update("\n".join(parts))
        self._say_state(f"Dry run: {len(plan.lines)} change(s) below. Type {CONFIRM_WORD} and press enter to run it.")
        self.query_one("#word", Input).focus()  # the next thing to do is to confirm

    @on(Button.Pressed, "#run")
    @on(Input.Submitted, "#word")
    def _run(self) -> None:
        if self.running:
            return
        if self.plan is None:
            self._say_error("Nothing to run yet: choose a kind and check the preview.")
            return
        if self.query_one("#word", Input).value.strip() != CONFIRM_WORD:
            self._say_error(f"Type {CONFIRM_WORD} to confirm.")
            return
        self._say_error("")
        req = self._request(dry_run=False)
        self._execute(req.model_copy(update={"expect_stages": self.seen}) if req is not None else req)

    @work(exclusive=True, group="operation")
    async def _execute(self, req) -> None:
        from mdm_console.api.describe import summary

        self.running = True
        self.query_one("#word", Input).value = ""
        self.query_one("#word", Input).disabled = True
        self.query_one("#run", Button).disabled = True
        text = self.query_one("#preview-text", Static)
        preview = self.query_one("#preview", VerticalScroll)
        self._say_state("Running… (every change as it is recorded below)")
        lines: list[str] = []
        async with self.session.subscribe() as q:
            run = asyncio.ensure_future(self.session.call("rollback", req))
            while not run.done() or not q.empty():
                get = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({run, get}, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    ev = get.result()
                    if not ev.kind.startswith("notify."):
                        lines.append(f"{ev.seq:>6} {ev.kind:<18} {escape(summary(_wire(ev)))}")
                        text.update("\n".join(lines[-200:]))
                        preview.scroll_end(animate=False)
                else:
                    get.cancel()
        self.running = False
        self.query_one("#word", Input).disabled = False
        self.query_one("#run", Button).disabled = False
        try:
            r = run.result()
        except OpFailed as exc:
            self._say_state("Rollback failed: " + escape(exc.message), "failed")
        else:
            if r.nothing_to_do:
                self._say_state(escape(r.nothing_to_do))
            else:
                verdict = "[$success]met[/]" if r.within_target else "[$error]MISSED[/]"
                if r.verification is None:
                    ver = "no verification (the plan has no rollback validators)"
                else:
                    counts = ", ".join(f"{n} {s}" for s, n in sorted(r.verification["counts"].items()))
                    ver = f"verification {'passed' if r.verified else 'FAILED'} ({counts})"
                flags = f"; flag file written after {r.flags_s * 1000:.0f} ms" if r.flags_s else ""
                self._say_state(f"Done in {r.elapsed_s:.2f} s (target {r.target_s:g} s: {verdict}){flags}; {ver}.",
                                "done" if r.within_target and r.verified is not False else "failed")
                self.plan = None  # done: running it again needs a new dry run
        self.query_one("#close", Button).focus()

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if not self.running:
            self.dismiss(None)


def _wire(ev):
    from mdm_console.api.models import wire_event

    return wire_event(ev)
