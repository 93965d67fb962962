"""One entry point for every export format, used by the CLI and by the console's `e` key."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from mdm_console.export import data
from mdm_console.export.files import ExportError, check_target, write_with
from mdm_console.fsguard import same_file

FORMATS = ("md", "html", "jsonl", "csv", "parquet")


@dataclass(frozen=True)
class ExportResult:
    path: Path
    events: int
    extra: list[Path]
    chain_ok: bool


async def export_session(engine, fmt: str, output: Path | str, *, since: int = 0, force: bool = False) -> ExportResult:
    if fmt not in FORMATS:
        raise ExportError(f"unknown format '{fmt}' ({', '.join(FORMATS)})")
    path = check_target(Path(output), force)
    ours = [("the session db", engine.store.path), ("the plan", engine.loaded.path),
            ("the flag file", engine.loaded.flag_file)]
    for target in (path, data.metrics_path(path)) if fmt in ("csv", "parquet") else (path,):
        for name, p in ours:
            if same_file(target, p):
                raise ExportError(f"{target} is {name}: an export never replaces it")
    extra: list[Path] = []
    if fmt in ("csv", "parquet"):
        mpath = check_target(data.metrics_path(path), force)
        n = await engine.store.acall(lambda con: data.copy_events(con, fmt, path, since))
        extra.append(mpath)
    elif fmt == "jsonl":
        n = await engine.store.acall(lambda con: data.stream_jsonl(con, path, since))
    else:
        import asyncio

        from mdm_console.export import report

        facts = await report.collect(engine)
        # Rendering is proportional to the session (and to every string in it): off the event loop.
        text = await asyncio.to_thread(report.render_md if fmt == "md" else report.render_html, facts)
        await asyncio.to_thread(write_with, path, lambda tmp: tmp.write_text(text, encoding="utf-8"))
        n = facts["span"][2]
    verify = await engine.chain_status()
    return ExportResult(path, n, extra, verify.ok)
