"""The rollback executor: full, component, flags-only and config-only, to a rollback point.

Every real run: point -> intent -> changes -> done -> the plan's `rollback` validators ->
`rollback.finished` with the measured elapsed time against the plan's target.
"""

from __future__ import annotations

import asyncio
import contextlib
import difflib
import time
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mdm_console.engine import points as pts
from mdm_console.engine.effects import Change
from mdm_console.flags.flagfile import sha256_file

if TYPE_CHECKING:
    from mdm_console.engine.core import Engine
    from mdm_console.validators.runner import RunSummary

Kind = Literal["full", "component", "flags", "config"]
KINDS = ("full", "component", "flags", "config")


class RollbackError(Exception):
    pass


class NothingToDo(RollbackError):
    """The rollback would change nothing (said, not recorded)."""


@dataclass(frozen=True)
class RollbackRequest:
    kind: Kind
    component: str | None = None
    to_stage: str | None = None
    point: str | None = None
    reason: str = ""
    automatic: bool = False
    answers: int | None = None  # the seq of the rollback.proposed this rollback accepts
    expect_stages: dict[str, str] | None = None  # compare-and-set: component -> the stage the person saw

    def as_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "component": self.component, "to_stage": self.to_stage, "point": self.point,
                "reason": self.reason, "automatic": self.automatic,
                **({"answers": self.answers} if self.answers is not None else {})}


@dataclass
class RollbackPlan:
    request: RollbackRequest
    changes: list[Change]
    restore: list[dict[str, Any]]  # point file entries to put back
    point: dict[str, Any] | None
    flag_diff: str = ""
    file_diffs: dict[str, str] = field(default_factory=dict)

    def lines(self) -> list[str]:
        out = [f"rollback {self.request.kind}" + (f" to point {self.point['id']} ({self.point['label']})"
                                                  if self.point else "")]
        for c in self.changes:
            out.append(f"  {c.component}: {c.from_stage} {c.from_percent:g} % -> {c.to_stage} {c.to_percent:g} %")
        for f in self.restore:
            out.append(f"  restore {f['label']} (sha256 {str(f['sha256'])[:12]}…)" if f["sha256"]
                       else f"  remove {f['label']} (it did not exist at the point)")
        if not self.changes and not self.restore:
            out.append("  nothing to change")
        return out


@dataclass
class RollbackResult:
    plan: RollbackPlan
    elapsed_s: float
    flags_s: float | None  # from the call to the flag file fsynced
    target_s: float
    verification: RunSummary | None

    @property
    def within_target(self) -> bool:
        return self.elapsed_s <= self.target_s

    @property
    def verified(self) -> bool:
        return self.verification is None or self.verification.ok


class RollbackExecutor:
    def __init__(self, engine: Engine):
        self.engine = engine

    async def plan(self, req: RollbackRequest) -> RollbackPlan:
        e = self.engine
        if req.kind not in KINDS:
            raise RollbackError(f"unknown rollback kind '{req.kind}' (full, component, flags or config)")
        point = await self._point(req)
        first = e.plan.stages[0]
        changes: list[Change] = []
        restore: list[dict[str, Any]] = []
        if req.kind == "component":
            changes = [self._component_change(req)]
        elif req.kind == "full" or (req.kind == "flags" and point is None):
            changes = [Change(cid, c.stage, first.name, c.percent, first.percent)
                       for cid, c in e.state.components.items() if c.stage != first.name]
        elif req.kind == "flags":
            for cid, c in e.state.components.items():
                want = point["stages"].get(cid)
                if want and want["stage"] != c.stage:
                    changes.append(Change(cid, c.stage, want["stage"], c.percent, want["percent"]))
        if req.kind in ("full", "config") and point is not None:
            for f in point["files"]:
                if f["label"] != "flags" and await asyncio.to_thread(sha256_file, Path(f["path"])) != f["sha256"]:
                    restore.append(f)
        plan = RollbackPlan(req, changes, restore, point)
        if req.kind != "config":
            plan.flag_diff = await e.rollout.flag_diff(changes)
        for f in restore:
            plan.file_diffs[f["label"]] = await asyncio.to_thread(_diff, f)
        return plan

    async def refuse_nothing_to_do(self, plan: RollbackPlan) -> None:
        """NothingToDo when running `plan` would change nothing. A flags rollback with no stage to change still
        rewrites a flag file that drifted from the stages; one that matches them has nothing to do: no point
        taken, nothing written, nothing recorded (and a dry run says so too)."""
        if not plan.changes and not plan.restore:
            if plan.request.kind != "flags" or not (await self.engine.rollout.check_drift(record=False)).drifted:
                raise NothingToDo("nothing to do: every stage and file is already as the rollback would leave it")

    async def run(self, req: RollbackRequest) -> RollbackResult:
        e = self.engine
        t0 = time.perf_counter()
        for cid, stage in (req.expect_stages or {}).items():
            if cid in e.state.components:
                e.rollout.expect(cid, stage)  # what the person saw moved: refused before anything is recorded
        try:
            plan = await self.plan(req)
        except RollbackError as exc:
            await e.record("rollback.refused", req.component, {**req.as_dict(), "error": str(exc)})
            raise
        await self.refuse_nothing_to_do(plan)
        if req.answers is not None:
            await self._accept(req)
        present = {"present": e.store.actor.operator} if req.automatic else {}  # the person at the console
        e.rollout.refuse_while_intents_open()  # an attempt that cannot run records nothing: no start, no point
        if req.kind != "config":
            await e.rollout.probe_writable()
        started = await e.record("rollback.started", req.component, {
            **req.as_dict(), **present, "point": plan.point["id"] if plan.point else None,
            "changes": [c.as_dict() for c in plan.changes], "restore": [f["label"] for f in plan.restore]})
        try:
            await e.rollout.change(
                plan.changes, action=f"rollback.{req.kind}", restore=plan.restore, overwrite_drift=True,
                write_flags=req.kind != "config", label=f"before {req.kind} rollback",
                extra={"how": "rollback", "reason": req.reason,
                       "rollback": {"kind": req.kind, "point": plan.point["id"] if plan.point else None,
                                    "automatic": req.automatic}})
        except Exception as exc:
            with contextlib.suppress(Exception):  # the store itself may be what failed
                await e.record("rollback.failed", req.component, {
                    **req.as_dict(), "point": plan.point["id"] if plan.point else None, "error": str(exc),
                    "started_seq": started.seq})
            raise
        flags_s = time.perf_counter() - t0 if req.kind != "config" else None
        if req.automatic:
            await self.announce_automatic(req.component, req.reason, present)
        verification = None
        if any("rollback" in v.phases for v in e.plan.validators):
            verification = await e.validation.run("rollback")
        result = RollbackResult(plan, time.perf_counter() - t0, flags_s, e.plan.cutover.rollback_target_seconds,
                                verification)
        await e.record("rollback.finished", req.component, {
            **req.as_dict(), "point": plan.point["id"] if plan.point else None,
            "elapsed_s": round(result.elapsed_s, 4), "flags_s": None if flags_s is None else round(flags_s, 4),
            "target_s": result.target_s, "within_target": result.within_target,
            "verified": None if verification is None else verification.ok,  # None: nothing verified it
            "verification": None if verification is None else {
                "run": verification.run_id, "ok": verification.ok, "counts": verification.counts(),
                "failures": [r["id"] for r in verification.results if r["status"] != "passed"]}})
        return result

    async def announce_automatic(self, component: str | None, reason: str, present: dict[str, Any]) -> None:
        """Loud: a critical alert that only a person's acknowledgement clears."""
        what = f"{component} was" if component else "every component was"
        await self.engine.record("alert.raised", component, {
            "alert": f"auto_rollback:{component or 'all'}", "level": "critical", "ack": True,
            "component": component, **present,
            "message": f"ROLLED BACK automatically: {what} rolled back by the policy ({reason}); held "
                       "until a person retries it with a reason. Acknowledge this alert to clear it."})

    async def resume_interrupted(self) -> list[str]:
        """At start, before anything else: a rollback a crash stopped. Its change is towards less traffic, the safe
        direction, so an unfinished one is finished (never undone), and the rollback is recorded as finished (or
        failed) saying so. Returns what was done, in words, for the start-up notes."""
        from mdm_console.engine import effects

        e, notes = self.engine, []
        for payload in [p for p in e.state.open_intents.values() if effects.lowers_traffic(p)]:
            try:
                await effects.finish(e, payload, why="a crash stopped a change towards less traffic: finished at "
                                                     "start, never undone")
                notes.append(f"finished the interrupted {payload['action']} (intent {payload['intent']}) at start")
            except (OSError, effects.EffectError, pts.PointError) as exc:
                notes.append(f"could not finish the interrupted {payload['action']} (intent {payload['intent']}): "
                             f"{exc}; the policy keeps trying")
        started = e.state.rollback_open
        if started is None or e.state.open_intents:
            return notes
        mine = [ev for ev in await e.events(started["seq"]) if ev.kind == "stage.changed"
                and (ev.payload.get("rollback") or {}).get("kind") == started["kind"]]
        req = {k: started.get(k) for k in ("kind", "component", "to_stage", "point", "reason", "automatic")}
        if started.get("answers") is not None:
            req["answers"] = started["answers"]
        if not mine and started.get("changes"):
            await e.record("rollback.failed", started.get("component"), {
                **req, "error": "a crash stopped it before it changed anything (its change was undone or never "
                                "made)", "started_seq": started["seq"]})
            notes.append(f"the rollback started at seq {started['seq']} did not change anything before a crash")
            return notes
        elapsed = (e.now() - datetime.fromisoformat(started["ts"])).total_seconds()
        target = e.plan.cutover.rollback_target_seconds
        await e.record("rollback.finished", started.get("component"), {
            **req, "elapsed_s": round(elapsed, 4), "flags_s": None, "target_s": target,
            "within_target": elapsed <= target, "verified": None, "verification": None,
            "interrupted": "a crash stopped it after its start; its change was finished at the next start"})
        if started.get("automatic"):
            await self.announce_automatic(started.get("component"), started.get("reason", ""),
                                          {"present": started["present"]} if started.get("present") else {})
        notes.append(f"the rollback started at seq {started['seq']} was interrupted by a crash and is finished now")
        return notes

    async def answer(self, component: str, accept: bool, reason: str, expect_seq: int | None = None):
        """A person's answer to the pending rollback proposal of `component`: accepted (the component rollback runs,
        linked to the proposal) or declined (a reason is required; the policy proposes again only once its
        criterion has stopped holding and holds again). `expect_seq`: the proposal the person saw; a newer one
        (or none) is refused, saying what happened."""
        e = self.engine
        comp = e.state.components.get(component)
        if comp is None:
            raise RollbackError(f"unknown component '{component}'")
        pending = comp.proposal
        if pending is None:
            raise RollbackError(f"no rollback of {component} is proposed now" + _last_answer(e, component))
        if expect_seq is not None and pending["seq"] != expect_seq:
            raise RollbackError(f"the proposal you saw (seq {expect_seq}) was overtaken: the pending one is seq "
                                f"{pending['seq']} ({pending.get('reason', '')}); look again")
        reason = reason.strip()
        if not accept:
            if not reason:
                raise RollbackError(f"say why the proposed rollback of {component} is declined")
            return await e.record("proposal.answered", component, {
                "component": component, "answers": pending["seq"], "answer": "declined", "reason": reason})
        why = reason or f"accepted the policy's proposal: {pending.get('reason', '')}"
        return await self.run(RollbackRequest("component", component=component, reason=why, answers=pending["seq"]))

    async def _accept(self, req: RollbackRequest) -> None:
        """A rollback that answers a proposal: recorded as its acceptance first, refused if it was overtaken."""
        e = self.engine
        comp = e.state.components.get(req.component or "")
        pending = comp.proposal if comp is not None else None
        if pending is None or pending["seq"] != req.answers:
            now = f"the pending one is seq {pending['seq']}" if pending else "none is pending now"
            raise RollbackError(f"the proposal this answers (seq {req.answers}) was overtaken: {now}"
                                + _last_answer(e, req.component or ""))
        await e.record("proposal.answered", req.component, {
            "component": req.component, "answers": req.answers, "answer": "accepted", "reason": req.reason})

    # ---- helpers --------------------------------------------------------------------------
    async def _point(self, req: RollbackRequest) -> dict[str, Any] | None:
        points = self.engine.state.points
        if req.point:
            point = points.get(req.point)
            if point is None:
                raise RollbackError(f"no rollback point '{req.point}' (see `mdm-console points`)")
        elif req.kind == "full" and points:
            point = next(iter(points.values()))  # the session's first point: the state before the cutover
        elif req.kind == "config" and points:
            point = list(points.values())[-1]
        elif req.kind == "config":
            raise RollbackError("no rollback point to restore the config files from")
        else:
            return None
        problems = await asyncio.to_thread(pts.damaged, point)
        if problems:
            raise RollbackError(f"point {point['id']} cannot be trusted: " + "; ".join(problems))
        return point

    def _component_change(self, req: RollbackRequest) -> Change:
        e = self.engine
        if not req.component:
            raise RollbackError("a component rollback needs a component (which one to roll back)")
        try:
            e.plan.component(req.component)
        except KeyError:
            raise RollbackError(f"unknown component '{req.component}'") from None
        cur = e.state.components[req.component]
        target = req.to_stage or e.plan.stages[0].name
        try:
            idx = e.plan.stage_index(target)
        except KeyError:
            names = ", ".join(s.name for s in e.plan.stages)
            raise RollbackError(f"unknown stage '{target}' (the ladder is {names})") from None
        if idx >= e.plan.stage_index(cur.stage):
            raise RollbackError(f"{req.component} is at '{cur.stage}'; '{target}' is not an earlier stage")
        s = e.plan.stages[idx]
        return Change(req.component, cur.stage, s.name, cur.percent, s.percent)


def _last_answer(e: Engine, component: str) -> str:
    last = e.state.last_answers.get(component)
    if not last:
        return ""
    return f" (the last one was {last['answer']} by {last['by']} at {last['ts'][11:19]} UTC: {last['reason']})"


def _diff(entry: dict[str, Any]) -> str:
    path = Path(entry["path"])
    try:
        now = path.read_text(errors="replace").splitlines(True)
    except FileNotFoundError:
        now = []
    data = pts.stored_bytes(entry)
    then = [] if data is None else data.decode(errors="replace").splitlines(True)
    return "".join(difflib.unified_diff(now, then, f"{entry['label']} (now)", f"{entry['label']} (at the point)"))
