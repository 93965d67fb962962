"""The `e` key: pick a format and a path, export, say where the file is."""

from __future__ import annotations

from pathlib import Path

from textual import on, work
from textual.app import ComposeResult
from textual.binding import Binding
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Input, Label, Select, Static

from mdm_console.ui.safe import escape


class ExportModal(ModalScreen[None]):
    """Export the session log.

    BINDINGS:
    - escape: close
    """

    DEFAULT_CSS = """
    ExportModal { align: center middle; }
    ExportModal > Vertical { width: 100%; max-width: 90; height: auto; max-height: 100%; border: thick $primary;
                             background: $surface; padding: 1 2; }
    ExportModal #result { height: auto; margin-top: 1; }
    ExportModal Horizontal { height: auto; align-horizontal: right; margin-top: 1; }
    """
    BINDINGS = [Binding("escape", "close", "Close", id="export.close")]

    def __init__(self, session):
        super().__init__()
        self.session = session

    def compose(self) -> ComposeResult:
        stem = self.session.default_export_dir / f"session-{self.session.now():%Y%m%dT%H%M%S}"
        with Vertical():
            yield Label("[b]Export the session log[/b]")
            yield Select([(f, f) for f in self.session.export_formats()], value="html", id="format",
                         allow_blank=False)
            yield Input(value=str(stem) + ".html", id="path")
            yield Static("", id="result")
            with Horizontal():
                yield Button("Close", id="close")
                yield Button("Export", id="go", variant="primary")

    @on(Select.Changed, "#format")
    def _suffix(self, event: Select.Changed) -> None:
        inp = self.query_one("#path", Input)
        inp.value = str(Path(inp.value).with_suffix(f".{event.value}"))

    @on(Button.Pressed, "#go")
    @on(Input.Submitted)
    def _go(self) -> None:
        self._export(self.query_one("#format", Select).value, self.query_one("#path", Input).value.strip())

    @work(exclusive=True, group="operation")
    async def _export(self, fmt: str, path: str) -> None:
        from mdm_console.ui.modals.confirm import ConfirmModal

        out = self.query_one("#result", Static)
        target = Path(path).expanduser()
        force = False
        if target.is_file():  # the console's way to say --force: ask, then replace (never partially)
            force = await self.app.push_screen_wait(ConfirmModal(
                f"Replace {target.name}?", f"{target} is there already. The export replaces it once it is complete "
                "(a failed export leaves it as it is).", "REPLACE"))
            if not force:
                out.update("not exported: the file is there (choose another name, or replace it)")
                return
        out.update(f"exporting {self.session.state.head_seq} events…")
        try:
            r = await self.session.export(fmt, target, force=force)
        except Exception as exc:  # noqa: BLE001 - ExportError, a refusal, a service gone: said, never a crash
            out.update(f"[$text-error]{escape(getattr(exc, 'message', None) or str(exc))}[/]")
            return
        extra = "".join(f"\n  and {p}" for p in r.extra)
        warn = "" if r.chain_ok else "\n[b $text-error]the hash chain is broken: the export says where[/]"
        out.update(f"[$text-success]wrote[/] {escape(str(r.path))}{escape(extra)}\n({r.events} events){warn}")

    @on(Button.Pressed, "#close")
    def action_close(self) -> None:
        self.dismiss(None)
