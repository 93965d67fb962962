"""The rollback wizard: kind -> component / stage / point -> dry-run preview -> typed confirm
word -> live progress of the changes and verification -> result with elapsed time vs target."""

from __future__ import annotations

import asyncio

from mdm_console.ui.safe import escape
from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from mdm_console.exits import OpFailed

CONFIRM_WORD = "ROLLBACK"
KINDS = [("full: every component to 0 %, config files restored", "full"),
         ("component: one component to an earlier stage", "component"),
         ("flags: the flag file only (to a point's stages or 0 %)", "flags"),
         ("config: the snapshot files only", "config")]


class RollbackWizard(ModalScreen[None]):
    """Roll back, seeing every change first.

    BINDINGS:
    - escape: close (not while it runs)
    """

    DEFAULT_CSS = """
    RollbackWizard { align: center middle; }
    RollbackWizard > Vertical { width: 110; height: 90%; border: thick $error; background: $surface; padding: 1 2; }
    RollbackWizard #choices { height: auto; }
    RollbackWizard #choices Select { width: 1fr; }
    RollbackWizard #preview { height: 1fr; border: round $panel; padding: 0 1; }
    RollbackWizard #confirm-row { height: auto; }
    RollbackWizard #confirm-row Input { width: 1fr; }
    RollbackWizard #confirm-row Button { width: auto; margin-left: 1; }
    RollbackWizard #error { color: $error; height: auto; }
    RollbackWizard Horizontal { height: auto; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="wizard.close")]

    def __init__(self, session, *, kind: str | None = None, component: str | None = None, reason: str = ""):
        super().__init__()
        self.session = session
        self.prefill = (kind, component, reason)
        self.running = False
        self.plan = None

    def compose(self) -> ComposeResult:
        e = self.session
        kind, comp, reason = self.prefill
        with Vertical():
            yield Label("[b]Rollback wizard[/b]" + (f" — proposed: {escape(reason)}" if reason else ""))
            with Horizontal(id="choices"):
                yield Select(KINDS, prompt="kind", id="kind", value=kind or Select.NULL)
                yield Select([(c.id, c.id) for c in e.plan.components], prompt="component", id="component",
                             value=comp or Select.NULL)
                yield Select([(s.name, s.name) for s in e.plan.stages], prompt="to stage (default: first)",
                             id="stage")
                yield Select([(f"{p['id']} {p['label'][:30]}", p["id"]) for p in e.state.points.values()],
                             prompt="point (default per kind)", id="point")
            yield Input(value=reason, placeholder="reason (recorded)", id="reason")
            with VerticalScroll(id="preview"):
                yield Static("Choose a kind: the dry run of every change shows here.", id="preview-text")
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

        return RollbackRequest(kind=kind, component=val("#component"), to_stage=val("#stage"), point=val("#point"),
                               reason=self.query_one("#reason", Input).value.strip(), dry_run=dry_run)

    @on(Select.Changed)
    def _changed(self) -> None:
        if not self.running:
            self._preview()

    @work(exclusive=True, group="wizard-preview")
    async def _preview(self) -> None:
        req = self._request(dry_run=True)
        text = self.query_one("#preview-text", Static)
        err = self.query_one("#error", Static)
        self.plan = None
        if req is None:
            return
        try:
            plan = await self.session.call("rollback", req)
        except OpFailed as exc:
            err.update(escape(exc.message))
            text.update("")
            return
        err.update("")
        self.plan = plan
        parts = ["[b]Dry run: these changes would be made[/b]", *map(escape, plan.lines)]
        if plan.flag_diff:
            parts += ["", "[b]flag file[/b]", escape(plan.flag_diff)]
        for diff in plan.file_diffs:
            parts += ["", escape(diff)]
        parts += ["", f"then the plan's rollback validators verify; target "
                      f"{self.session.plan.cutover.rollback_target_seconds:g} s"]
        text.update("\n".join(parts))

    @on(Button.Pressed, "#run")
    @on(Input.Submitted, "#word")
    def _run(self) -> None:
        if self.running:
            return
        err = self.query_one("#error", Static)
        if self.plan is None:
            err.update("Nothing to run yet: choose a kind and check the preview.")
            return
        if self.query_one("#word", Input).value.strip() != CONFIRM_WORD:
            err.update(f"Type {CONFIRM_WORD} to confirm.")
            return
        self._execute(self._request(dry_run=False))

    @work(exclusive=True, group="operation")
    async def _execute(self, req) -> None:
        self.running = True
        text = self.query_one("#preview-text", Static)
        lines = ["[b]Running…[/b]"]
        text.update("\n".join(lines))
        async with self.session.subscribe() as q:
            run = asyncio.ensure_future(self.session.call("rollback", req))
            while not run.done() or not q.empty():
                get = asyncio.ensure_future(q.get())
                done, _ = await asyncio.wait({run, get}, return_when=asyncio.FIRST_COMPLETED)
                if get in done:
                    ev = get.result()
                    lines.append(f"  {ev.seq:>6} {ev.kind:<18} {escape(_brief(ev))}")
                    text.update("\n".join(lines[-40:]))
                else:
                    get.cancel()
        self.running = False
        try:
            r = run.result()
        except OpFailed as exc:
            lines.append(f"[b red]rollback failed: {escape(exc.message)}[/]")
        else:
            if r.nothing_to_do:
                lines.append(escape(r.nothing_to_do))
                text.update("\n".join(lines[-60:]))
                return
            verdict = "[green]met[/]" if r.within_target else "[red]MISSED[/]"
            if r.verification is None:
                ver = "verification: none (the plan has no rollback validators)"
            else:
                counts = ", ".join(f"{n} {s}" for s, n in sorted(r.verification["counts"].items()))
                ver = f"verification: {'[green]passed[/]' if r.verified else '[red]FAILED[/]'} ({counts})"
            lines += ["", f"[b]done in {r.elapsed_s:.2f} s[/b] (target {r.target_s:g} s: {verdict})"
                          + (f"; flag file written after {r.flags_s * 1000:.0f} ms" if r.flags_s else ""), ver]
        text.update("\n".join(lines[-60:]))

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        if not self.running:
            self.dismiss(None)


def _brief(ev) -> str:
    p = ev.payload
    if ev.kind == "stage.changed":
        return f"{ev.component}: {p['from']} -> {p['to']} ({p['to_percent']:g} %)"
    if ev.kind == "validator.result":
        return f"{p['id']}: {p['status']} {p.get('detail', '')[:60]}"
    if ev.kind == "rollback.finished":
        return f"{p['elapsed_s']:.2f} s, " + ("no verification validators" if p.get("verification") is None
                                             else f"verified {p['verified']}")
    return ", ".join(f"{k}={v}" for k, v in list(p.items())[:3])[:80]
