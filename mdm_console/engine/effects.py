"""Crash-safe side effects: `intent` event -> file writes -> result events + `intent.done`.

The flag file is always rendered from component stages (so it matches the recorded
state by construction); its metadata carries the seq of the intent that wrote it. An
intent holds everything needed to redo or undo it, so an intent left open by a crash
can be finished or reverted at the next start.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from mdm_console.engine import points as pts
from mdm_console.engine.faults import fault_point
from mdm_console.flags.flagfile import FlagFileError, render, sha256_bytes, sha256_file, write_atomic
from mdm_console.store.chain import Event
from mdm_console.store.session import EventSpec

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine


class EffectError(Exception):
    """A side effect failed; nothing is half-written and an event says what failed."""


@dataclass(frozen=True)
class Change:
    component: str
    from_stage: str
    to_stage: str
    from_percent: float
    to_percent: float

    def as_dict(self) -> dict[str, Any]:
        return {"component": self.component, "from": self.from_stage, "to": self.to_stage,
                "from_percent": self.from_percent, "to_percent": self.to_percent}


def flag_entries(engine: Engine, changes: list[Change]) -> list[list]:
    """[flag_key, component, stage, percent, seq] per component; seq None = the intent's own seq."""
    by_comp = {c.component: c for c in changes}
    entries = []
    for comp in engine.plan.components:
        st = engine.state.components[comp.id]
        ch = by_comp.get(comp.id)
        if ch:
            entries.append([comp.flag_key, comp.id, ch.to_stage, ch.to_percent, None])
        else:
            # A flag never written before is written by this intent (seq None).
            entries.append([comp.flag_key, comp.id, st.stage, st.percent, st.flag_seq or None])
    return entries


def flag_bytes(entries: list[list], intent_seq: int) -> bytes:
    return render([(k, c, s, p, intent_seq if seq is None else seq) for k, c, s, p, seq in entries])


async def take_point(engine: Engine, label: str, *, auto: bool, reason: str = "") -> dict[str, Any]:
    """Capture the flag file, the snapshot files and all stages, then record `point.created`."""
    point_id = f"pt-{len(engine.state.points) + 1:04d}-{uuid.uuid4().hex[:6]}"
    files = [("flags", engine.loaded.flag_file)]
    files += [(str(p.relative_to(engine.loaded.base_dir)) if p.is_relative_to(engine.loaded.base_dir) else str(p), p)
              for p in engine.loaded.snapshot_files]
    try:
        entries = await asyncio.to_thread(pts.capture, engine.points_dir / point_id, files)
    except OSError as exc:
        await asyncio.to_thread(pts.remove_point_dir, engine.points_dir / point_id)
        await engine.record("point.failed", None, {"id": point_id, "label": label, "error": str(exc)})
        raise EffectError(f"cannot take rollback point ({exc.strerror or exc}); nothing was changed") from None
    stages = {cid: {"stage": c.stage, "percent": c.percent} for cid, c in engine.state.components.items()}
    ev = await engine.record("point.created", None, {
        "id": point_id, "label": label, "auto": auto, "reason": reason, "files": entries, "stages": stages})
    return engine.state.points[ev.payload["id"]]


async def perform(engine: Engine, *, action: str, changes: list[Change], restore: list[dict[str, Any]],
                  before_point: dict[str, Any], extra: dict[str, Any], write_flags: bool = True) -> list[Event]:
    """Record the intent, make the writes, record the results. Raises EffectError on failure."""
    intent_id = uuid.uuid4().hex[:12]
    entries = flag_entries(engine, changes) if write_flags else None
    intent = await engine.record("intent", None, {
        "intent": intent_id, "action": action, "before_point": before_point["id"],
        "flags": entries, "files": restore, "changes": [c.as_dict() for c in changes], **extra})
    fault_point("effects.before_write")
    try:
        flags_sha = await asyncio.to_thread(_write, engine.loaded.flag_file, entries, intent.seq, restore)
    except (FlagFileError, pts.PointError, OSError) as exc:
        await _undo_after_failure(engine, intent, before_point, restore, exc)
        raise EffectError(str(exc)) from None
    fault_point("effects.after_write")
    return await engine.record_many(done_events({**intent.payload, "seq": intent.seq}, flags_sha, "done"))


def _write(flag_file: Path, entries: list[list] | None, intent_seq: int, restore: list[dict[str, Any]]) -> str | None:
    flags_sha = write_atomic(flag_file, flag_bytes(entries, intent_seq)) if entries is not None else None
    for entry in restore:
        pts.restore(entry)
    return flags_sha


async def _undo_after_failure(engine: Engine, intent: Event, before_point: dict[str, Any],
                              restore: list[dict[str, Any]], exc: Exception) -> None:
    # The flag file write is atomic, so a failed write left the old one; a failed restore of a
    # config file after the flag file was written must put everything back as the point had it.
    touched = {Path(e["path"]) for e in restore} | {engine.loaded.flag_file}
    undo = [f for f in before_point["files"] if Path(f["path"]) in touched]
    problems = []
    for entry in undo:
        try:
            await asyncio.to_thread(pts.restore, entry)
        except (OSError, pts.PointError, FlagFileError) as undo_exc:
            problems.append(f"{entry['label']}: {undo_exc}")
    await engine.record_many([
        EventSpec("effect.failed", None, {"intent": intent.payload["intent"], "action": intent.payload["action"],
                                          "error": str(exc), "undo_problems": problems}),
        EventSpec("intent.done", None, {"intent": intent.payload["intent"], "resolution": "reverted",
                                        "error": str(exc)}),
    ])


def done_events(p: dict[str, Any], flags_sha: str | None, resolution: str, **done: Any) -> list[EventSpec]:
    """The events that complete an intent (`p` is its payload plus its "seq")."""
    specs = [EventSpec("stage.changed", ch["component"], {
        **ch, "how": p.get("how"), "reason": p.get("reason", ""), "intent": p["intent"], "flag_seq": p["seq"],
        **({"gates": p["gates"].get(ch["component"], [])} if p.get("gates") else {}),
        **({"override": p["override"]} if p.get("override") else {}),
        **({"rollback": p["rollback"]} if p.get("rollback") else {}),
    }) for ch in p["changes"]]
    if flags_sha is not None:
        written = {comp: p["seq"] if seq is None else seq for _, comp, _, _, seq in p["flags"]}
        specs.append(EventSpec("flags.written", None, {"intent": p["intent"], "sha256": flags_sha, "seqs": written}))
    for f in p["files"]:
        specs.append(EventSpec("file.restored", None, {
            "intent": p["intent"], "label": f["label"], "path": f["path"], "sha256": f["sha256"]}))
    specs.append(EventSpec("intent.done", None, {"intent": p["intent"], "resolution": resolution, **done}))
    return specs


# ---- reconciliation of intents left open by a crash ---------------------------------------
@dataclass(frozen=True)
class OpenIntent:
    intent: str
    seq: int
    action: str
    effect_on_disk: str  # "complete" | "not made" | "partial" | "other"
    details: list[str]


def inspect(engine: Engine, payload: dict[str, Any]) -> OpenIntent:
    """Compare the files on disk (sha256) with what the intent wanted. Blocking: use a thread."""
    details, states = [], []
    if payload.get("flags") is not None:
        want = sha256_bytes(flag_bytes(payload["flags"], payload["seq"]))
        have = sha256_file(engine.loaded.flag_file)
        before = next((f["sha256"] for f in engine.state.points.get(payload["before_point"], {}).get("files", [])
                       if f["label"] == "flags"), None)
        states.append("complete" if have == want else "not made" if have == before else "other")
        details.append(f"flag file: {'as the intent wanted' if have == want else 'as before the intent' if have == before else 'neither the old nor the new content'}")
    for f in payload.get("files", []):
        have = sha256_file(Path(f["path"]))
        states.append("complete" if have == f["sha256"] else "not made")
        details.append(f"{f['label']}: {'restored' if have == f['sha256'] else 'not restored'}")
    if not states or all(s == "complete" for s in states):
        overall = "complete"
    elif all(s == "not made" for s in states):
        overall = "not made"
    elif "other" in states:
        overall = "other"
    else:
        overall = "partial"
    return OpenIntent(payload["intent"], payload["seq"], payload["action"], overall, details)


def lowers_traffic(payload: dict[str, Any]) -> bool:
    """An intent whose every stage change moves fewer users to the new path (a rollback, a step back): finishing
    it is the safe direction."""
    changes = payload.get("changes") or []
    return (bool(changes) and all(c["to_percent"] < c["from_percent"] for c in changes)) or (
        str(payload.get("action", "")).startswith("rollback.") and all(
            c["to_percent"] <= c["from_percent"] for c in changes))


def probe_dir(path: Path) -> None:
    """Raise OSError unless a file can be created (and removed) beside `path`: an attempt that cannot write is
    known before anything is recorded for it."""
    import os
    import tempfile

    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)  # as the write itself would
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.probe-", suffix=".tmp")  # cleaned as any
    os.close(fd)
    os.unlink(tmp)


async def finish(engine: Engine, payload: dict[str, Any], why: str | None = None) -> list[Event]:
    """Make the intent's writes (again, where the disk differs) and record its results."""
    entries = payload.get("flags")

    def redo() -> str | None:
        sha = None
        if entries is not None:
            data = flag_bytes(entries, payload["seq"])
            sha = sha256_bytes(data)
            if sha256_file(engine.loaded.flag_file) != sha:
                write_atomic(engine.loaded.flag_file, data)
        for f in payload.get("files", []):
            if sha256_file(Path(f["path"])) != f["sha256"]:
                pts.restore(f)
        return sha

    sha = await asyncio.to_thread(redo)
    extra = {"why": why} if why else {}
    return await engine.record_many(done_events(payload, sha, "finished", reconciled=True, **extra))


async def revert(engine: Engine, payload: dict[str, Any]) -> list[Event]:
    """Put every file the intent touched back as its before-point had it."""
    point = engine.state.points.get(payload["before_point"])
    if point is None:
        raise EffectError(f"the intent's rollback point {payload['before_point']} is not in the log")
    touched = {Path(f["path"]) for f in payload.get("files", [])}
    if payload.get("flags") is not None:
        touched.add(engine.loaded.flag_file)
    entries = [f for f in point["files"] if Path(f["path"]) in touched]
    problems = await asyncio.to_thread(pts.damaged, {"files": entries})
    if problems:
        raise EffectError("cannot revert: " + "; ".join(problems))
    for entry in entries:
        await asyncio.to_thread(pts.restore, entry)
    return await engine.record_many([EventSpec("intent.done", None, {
        "intent": payload["intent"], "resolution": "reverted", "reconciled": True})])

