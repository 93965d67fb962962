"""What each request does to an engine: one function per operation, the same whether the service runs it for
a client over the socket or a CLI command runs it in its own process (no service running).

An operation answers with its response model, or raises `OpFailed` with the exit code and the message the
CLI prints. Events it records carry whoever the caller is (`Engine.acting`), set by the server per request.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any

from mdm_console.api import models as m
from mdm_console.api.access import COMPLETE, OBSERVE, OPERATE, SIGN
from mdm_console.exits import EXIT_FAILED, EXIT_USAGE, OpFailed

Emit = Callable[[dict[str, Any]], Awaitable[None]] | None  # progress lines of a streamed operation


@dataclass(frozen=True)
class Op:
    name: str
    request: type[m.Request]
    response: type[m.Body]
    fn: Callable[..., Awaitable[m.Body]]
    capability: Callable[[Any], str]
    writes: Callable[[Any], bool]
    health: bool = False  # run in-process, the metric feed is caught up first (LiveMonitor.catch_up)
    # Answered in JSON Lines: progress lines (validate's results) and keep-alive lines while it runs, then the
    # answer; for what may run long once started (a rollback's verification runs validators), so the client's read
    # deadline holds between lines however long it takes.
    streams: bool = False
    summary: str = ""


def refusals() -> tuple[type[Exception], ...]:
    from mdm_console.engine.checklist import ChecklistRefused
    from mdm_console.engine.effects import EffectError
    from mdm_console.engine.rollback import RollbackError
    from mdm_console.engine.rollout import RolloutError
    from mdm_console.store.errors import StoreError

    return RolloutError, EffectError, RollbackError, ChecklistRefused, StoreError


def _failed(prefix: str, exc: Exception) -> OpFailed:
    reasons = getattr(exc, "reasons", None)
    text = "refused: " + "; ".join(reasons) if reasons else str(exc)
    return OpFailed(EXIT_FAILED, f"{prefix}{text}")


def require_writable(engine) -> None:
    if engine.read_only:
        reason = "its hash chain is broken" if engine.store.sealed else "it is open read-only"
        raise OpFailed(EXIT_FAILED, f"refusing to change the session: {reason}")


# ---- read -----------------------------------------------------------------------------------------------------
def status_snapshot(engine) -> dict[str, Any]:
    plan, state = engine.plan, engine.state
    items = engine.checklist.items()
    statuses = Counter(i.status for i in items)
    return {
        "plan": {"name": plan.cutover.name, "path": str(engine.loaded.path), "sha256": engine.loaded.sha256,
                 "demo": engine.loaded.is_demo},
        "session_db": str(engine.store.path),
        "phase": engine.phase,
        "head": {"seq": state.head_seq, "hash": state.head_hash},
        "components": [
            {"id": c.id, "title": c.title, "flag_key": c.flag_key, "stage": state.components[c.id].stage,
             "percent": state.components[c.id].percent, "stage_since": state.components[c.id].stage_since,
             "auto_advance": state.components[c.id].auto_advance, "held": state.components[c.id].held,
             "proposal": state.components[c.id].proposal}
            for c in plan.components
        ],
        "checklist": {
            "items": len(state.checklist),
            "by_status": dict(statuses),
            "critical_completed": sum(i.critical and i.status == "completed" for i in items),
            "critical": sum(i.critical for i in items),
            "state_sha256": engine.checklist.state_hash(),
        },
        "signoffs": [
            {"role": s.role, "signed": s.signed, "name": s.name, "ts": s.ts, "current": s.current,
             "changed_since": s.changed_since, "unmet": s.unmet}
            for s in engine.checklist.signoffs()
        ],
        "gates": {c.id: [g.as_dict() for g in engine.rollout.gates(c.id)] for c in plan.components},
        "open_intents": list(state.open_intents),
        "alerts": list(state.alerts.values()),
        "notes": engine.report.notes,
    }


async def status(engine, req: m.StatusRequest, emit: Emit = None) -> m.StatusResponse:
    return m.StatusResponse(status=status_snapshot(engine))


async def checklist(engine, req: m.ChecklistRequest, emit: Emit = None) -> m.ChecklistResponse:
    c = engine.checklist
    return m.ChecklistResponse(state_hash=c.state_hash(),
                               items=[asdict(i) | {"why_not": i.why_not} for i in c.items()],
                               signoffs=[asdict(s) for s in c.signoffs()])


async def verify(engine, req: m.VerifyRequest, emit: Emit = None) -> m.VerifyResponse:
    if engine.store.lost:
        raise OpFailed(EXIT_FAILED, f"cannot verify: {engine.store.lost}")
    r = await engine.verify(expect_head=req.expect_head)
    return m.VerifyResponse(ok=r.ok, line=r.line(), events=r.events, head_seq=r.head_seq, head_hash=r.head_hash,
                            bad_seq=r.bad_seq, reason=r.reason, checkpoint_problems=list(r.checkpoint_problems),
                            partial_from=r.partial_from, contains_head=r.contains_head)


async def log(engine, req: m.LogRequest, emit: Emit = None) -> m.LogResponse:
    from mdm_console.store.session import SessionStore

    events, total = await engine.store.acall(SessionStore.q_page(req.kind, req.component, req.before, req.after,
                                                                 req.limit, req.text))
    return m.LogResponse(events=[m.wire_event(ev) for ev in events], total=total)


async def plan(engine, req: m.PlanRequest, emit: Emit = None) -> m.PlanResponse:
    from mdm_console.redact import mask_url, redact_obj

    doc = engine.plan.model_dump(mode="json")
    for v in doc.get("validators", []):
        v["params"] = redact_obj(v.get("params", {}))
    for t in doc.get("notify", []):
        if t.get("url"):
            t["url"] = mask_url(t["url"])
    metrics = doc.get("metrics") or {}
    if metrics.get("url"):  # a scrape or PromQL address may carry a password: it stays with the owner
        metrics["url"] = mask_url(metrics["url"])
    return m.PlanResponse(path=str(engine.loaded.path), sha256=engine.loaded.sha256, demo=engine.loaded.is_demo,
                          plan=doc)


async def state(engine, req: m.StateRequest, emit: Emit = None) -> m.StateResponse:
    # Events are applied to the state synchronously, on this loop: between two awaits it is whole.
    return m.StateResponse(head_seq=engine.state.head_seq, state=engine.state.to_json())


async def validator_output(engine, req: m.ValidatorOutputRequest, emit: Emit = None) -> m.ValidatorOutputResponse:
    from mdm_console.store.session import SessionStore

    return m.ValidatorOutputResponse(output=await engine.store.acall(SessionStore.q_last_output(req.id)))


async def series(engine, req: m.SeriesRequest, emit: Emit = None) -> m.SeriesResponse:
    from mdm_console.api.health import series as plot_series

    if req.component not in engine.state.components:
        raise OpFailed(EXIT_USAGE, f"no component '{req.component}'")
    data = plot_series(engine.health, req.component, engine.now()) if engine.health is not None else {}
    return m.SeriesResponse(series={k: [list(v[0]), list(v[1]), list(v[2])] for k, v in data.items()})


async def cancel(engine, req: m.CancelRequest, emit: Emit = None) -> m.CancelResponse:
    v = engine.validation
    if req.validator:
        return m.CancelResponse(cancelled=int(v.cancel(req.validator)))
    return m.CancelResponse(cancelled=v.cancel_all())


async def flags(engine, req: m.FlagsRequest, emit: Emit = None) -> m.FlagsResponse:
    try:
        if req.action == "restore":
            await engine.rollout.restore_flags(req.reason)
        else:
            await engine.rollout.adopt_flag_file(req.reason)
    except refusals() as exc:
        raise _failed(f"{req.action} the flag file: ", exc) from None
    return m.FlagsResponse(sha256=engine.state.flags_sha256)


# ---- rollout ----------------------------------------------------------------------------------------------------
async def advance(engine, req: m.AdvanceRequest, emit: Emit = None) -> m.AdvanceResponse:
    from mdm_console.engine.effects import EffectError
    from mdm_console.engine.rollout import RolloutError

    adopted = None
    if req.adopt_flag_file and not req.dry_run:
        try:
            await engine.rollout.adopt_flag_file(req.adopt_flag_file)
        except (RolloutError, EffectError) as exc:
            raise OpFailed(EXIT_FAILED, f"adopt the flag file: {exc}") from None
        adopted = engine.state.flags_sha256
    try:
        r = await engine.rollout.advance(req.component, override=req.override, reason=req.reason,
                                         dry_run=req.dry_run, expect_stage=req.expect_stage)
    except refusals() as exc:
        raise _failed(f"advance {req.component}: ", exc) from None
    return m.AdvanceResponse(
        component=r.component, from_stage=r.from_stage, to_stage=r.to_stage, to_percent=r.to_percent,
        gates=[g.as_dict() | {"line": g.line()} for g in r.gates],
        failing=[g.as_dict() for g in r.failing], blocked=r.blocked, dry_run=r.dry_run, done=r.done,
        override=r.override, flag_diff=r.flag_diff,
        seq=engine.state.components[r.component].stage_seq if r.done else None, adopted=adopted)


async def step_back(engine, req: m.StepBackRequest, emit: Emit = None) -> m.StageResponse:
    try:
        c = await engine.rollout.step_back(req.component, reason=req.reason or "stepped back", dry_run=req.dry_run,
                                           expect_stage=req.expect_stage)
    except refusals() as exc:
        raise _failed(f"step back {req.component}: ", exc) from None
    return m.StageResponse(component=c.component, from_stage=c.from_stage, to_stage=c.to_stage,
                           from_percent=c.from_percent, to_percent=c.to_percent, dry_run=req.dry_run,
                           seq=engine.state.head_seq)


async def auto_advance(engine, req: m.AutoAdvanceRequest, emit: Emit = None) -> m.StageResponse:
    try:
        await engine.rollout.set_auto_advance(req.component, req.enabled, req.reason, req.expect_stage)
    except (KeyError, *refusals()) as exc:
        raise _failed(f"auto-advance {req.component}: ", exc) from None
    st = engine.state.components[req.component]
    return m.StageResponse(component=req.component, from_stage=st.stage, to_stage=st.stage,
                           from_percent=st.percent, to_percent=st.percent, seq=engine.state.head_seq)


async def rollback(engine, req: m.RollbackRequest, emit: Emit = None) -> m.RollbackResponse:
    from mdm_console.engine.rollback import NothingToDo, RollbackRequest

    r = RollbackRequest(req.kind, req.component, req.to_stage, req.point, req.reason, answers=req.answers,
                        expect_stages=req.expect_stages)
    try:
        if req.dry_run:
            plan = await engine.rollback.plan(r)
            await engine.rollback.refuse_nothing_to_do(plan)
            return m.RollbackResponse(lines=plan.lines(), flag_diff=plan.flag_diff,
                                      file_diffs=list(plan.file_diffs.values()), dry_run=True)
        result = await engine.rollback.run(r)
    except NothingToDo as exc:
        return m.RollbackResponse(nothing_to_do=str(exc), lines=[], flag_diff="", file_diffs=[], dry_run=False)
    except refusals() as exc:
        raise _failed(f"rollback {req.kind}: ", exc) from None
    v = result.verification
    return m.RollbackResponse(
        lines=result.plan.lines(), flag_diff=result.plan.flag_diff, file_diffs=[], dry_run=False,
        elapsed_s=result.elapsed_s, flags_s=result.flags_s, target_s=result.target_s,
        within_target=result.within_target, verified=result.verified,
        verification=None if v is None else {"counts": v.counts(), "not_passed": [
            {"id": x["id"], "status": x["status"], "detail": x["detail"]} for x in v.results if x["status"] != "passed"]})


async def points(engine, req: m.PointsRequest, emit: Emit = None) -> m.PointsResponse:
    from mdm_console.engine.effects import take_point

    taken = None
    if req.take:
        async with engine.effects_lock:
            taken = (await take_point(engine, req.take, auto=False))["id"]
    return m.PointsResponse(taken=taken, points=list(engine.state.points.values()))


async def reconcile(engine, req: m.ReconcileRequest, emit: Emit = None) -> m.ReconcileResponse:
    from mdm_console.engine import effects

    out = []
    if req.intent is not None and req.intent not in engine.state.open_intents:
        raise OpFailed(EXIT_FAILED, f"no open intent '{req.intent}' (finished or reverted already)")
    for payload in [p for i, p in engine.state.open_intents.items() if req.intent in (None, i)]:
        info = await asyncio.to_thread(effects.inspect, engine, payload)
        # Towards less traffic (a rollback, a step back) is the safe direction: finished, never undone.
        suggested = "finish" if info.effect_on_disk == "complete" or effects.lowers_traffic(payload) else "revert"
        entry = {"intent": info.intent, "action": info.action, "seq": info.seq, "on_disk": info.effect_on_disk,
                 "suggested": suggested, "details": info.details, "done": None}
        out.append(entry)
        if not req.yes:
            continue
        require_writable(engine)
        choice = req.choice or suggested
        try:
            await (effects.finish if choice == "finish" else effects.revert)(engine, payload)
        except effects.EffectError as exc:
            raise OpFailed(EXIT_FAILED, f"reconcile {info.intent}: {exc}") from None
        entry["done"] = choice
    return m.ReconcileResponse(intents=out)


async def acknowledge(engine, req: m.AcknowledgeRequest, emit: Emit = None) -> m.AcknowledgeResponse:
    try:
        ev = await engine.acknowledge(req.alert, req.note)
    except (KeyError, ValueError) as exc:
        raise OpFailed(EXIT_FAILED, str(exc).strip("'\"")) from None
    return m.AcknowledgeResponse(alert=req.alert, seq=ev.seq)


async def proposal(engine, req: m.ProposalRequest, emit: Emit = None) -> m.ProposalResponse:
    from mdm_console.engine.rollback import RollbackResult

    pending = engine.state.components.get(req.component)
    answers = pending.proposal["seq"] if pending is not None and pending.proposal else 0
    try:
        done = await engine.rollback.answer(req.component, req.answer == "accept", req.reason, req.expect_seq)
    except refusals() as exc:
        raise _failed(f"proposal {req.component}: ", exc) from None
    rolled = None
    if isinstance(done, RollbackResult):
        rolled = m.RollbackResponse(lines=done.plan.lines(), flag_diff=done.plan.flag_diff, file_diffs=[],
                                    dry_run=False, elapsed_s=done.elapsed_s, flags_s=done.flags_s,
                                    target_s=done.target_s, within_target=done.within_target, verified=done.verified)
    return m.ProposalResponse(component=req.component, answer=req.answer, answers=answers,
                              seq=engine.state.head_seq, rollback=rolled)


# ---- validators ---------------------------------------------------------------------------------------------------
async def validate(engine, req: m.ValidateRequest, emit: Emit = None) -> m.ValidateResponse:
    from mdm_console.validators.runner import ValidationError

    if req.jobs:
        engine.validation.concurrency = req.jobs
    if engine.validation.running:
        raise OpFailed(EXIT_FAILED, "validators are already running in this session; wait for them to finish")
    try:
        s = await engine.validation.run(req.phase, req.only, on_result=emit)
    except ValidationError as exc:
        raise OpFailed(EXIT_USAGE, str(exc)) from None
    except refusals() as exc:
        raise _failed("validate: ", exc) from None
    return m.ValidateResponse(run_id=s.run_id, phase=s.phase, results=s.results, counts=s.counts(),
                              stopped=s.stopped, duration_ms=s.duration_ms, ok=s.ok,
                              critical_failures=[r["id"] for r in s.critical_failures])


# ---- checklist -------------------------------------------------------------------------------------------------------
async def item(engine, req: m.ItemRequest, emit: Emit = None) -> m.ItemResponse:
    c = engine.checklist
    try:
        async with engine.checklist_lock:  # what is judged is what is recorded: no other change in between
            if req.expect_status is not None:
                c.expect(req.item, req.expect_status)
            if req.action == "complete":
                view = await c.complete(req.item)
            else:
                view = await {"fail": c.fail, "reopen": c.reopen, "note": c.note}[req.action](req.item, req.text)
    except refusals() as exc:
        raise _failed("", exc) from None
    return m.ItemResponse(id=view.id, status=view.status, relied_on=dict(view.relied_on))


async def signoff(engine, req: m.SignoffRequest, emit: Emit = None) -> m.SignoffResponse:
    try:
        async with engine.checklist_lock:
            view = await engine.checklist.sign(req.role, req.name, req.comment)
    except refusals() as exc:
        raise _failed("", exc) from None
    ev = next(e for e in reversed(await engine.events(max(0, engine.state.head_seq - 5)))
              if e.kind == "signoff.recorded")
    return m.SignoffResponse(role=view.role, name=view.name, ts=view.ts, state_hash=view.state_hash,
                             os_user=ev.actor.os_user, rehearsal=bool(ev.payload.get("rehearsal")))


def _never(req) -> bool:
    return False


def _always(req) -> bool:
    return True


def _observe(req) -> str:
    return OBSERVE


def _operate(req) -> str:
    return OPERATE


OPS: dict[str, Op] = {op.name: op for op in (
    Op("status", m.StatusRequest, m.StatusResponse, status, _observe, _never, health=True,
       summary="stages, gates, phase, checklist, sign-offs, alerts"),
    Op("checklist", m.ChecklistRequest, m.ChecklistResponse, checklist, _observe, _never,
       summary="checklist items with why not yet, and the sign-offs"),
    Op("verify", m.VerifyRequest, m.VerifyResponse, verify, _observe, _never, streams=True,
       summary="re-check the hash chain"),
    Op("log", m.LogRequest, m.LogResponse, log, _observe, _never,
       summary="a page of events, newest first, filtered by kind and component"),
    Op("plan", m.PlanRequest, m.PlanResponse, plan, _observe, _never, summary="the plan the session runs"),
    Op("state", m.StateRequest, m.StateResponse, state, _observe, _never,
       summary="the session state at the head seq (a client then applies the events after it)"),
    Op("validator_output", m.ValidatorOutputRequest, m.ValidatorOutputResponse, validator_output, _observe, _never,
       summary="the output tail of a validator's newest result"),
    Op("series", m.SeriesRequest, m.SeriesResponse, series, _observe, _never,
       summary="a component's error rate and p99 per 5 s bucket over the window, per path (plots)"),
    Op("cancel", m.CancelRequest, m.CancelResponse, cancel, _operate, _never,
       summary="cancel a running validator, or every running one"),
    Op("flags", m.FlagsRequest, m.FlagsResponse, flags, _operate, _always,
       summary="restore the flag file from the recorded stages, or adopt one this session did not write"),
    Op("points", m.PointsRequest, m.PointsResponse, points, lambda r: OPERATE if r.take else OBSERVE,
       lambda r: bool(r.take), summary="rollback points (take one with `take`)"),
    Op("advance", m.AdvanceRequest, m.AdvanceResponse, advance, _operate, lambda r: not r.dry_run, health=True,
       summary="advance a component one stage when its gates hold (or with an override reason)"),
    Op("step_back", m.StepBackRequest, m.StageResponse, step_back, _operate, lambda r: not r.dry_run,
       summary="one stage down"),
    Op("auto_advance", m.AutoAdvanceRequest, m.StageResponse, auto_advance, _operate, _always,
       summary="pause or resume auto-advance of a component"),
    Op("rollback", m.RollbackRequest, m.RollbackResponse, rollback, _operate, lambda r: not r.dry_run, streams=True,
       summary="roll back (full, component, flags, config), or list what it would change"),
    Op("reconcile", m.ReconcileRequest, m.ReconcileResponse, reconcile, _operate, lambda r: r.yes,
       summary="finish or revert a change a crash left half-done"),
    Op("acknowledge", m.AcknowledgeRequest, m.AcknowledgeResponse, acknowledge, _operate, _always,
       summary="a person clears an automatic rollback's alert, or records with a note that they saw another"),
    Op("proposal", m.ProposalRequest, m.ProposalResponse, proposal, _operate, _always, streams=True,
       summary="accept (the rollback runs) or decline (with a reason) the rollback the policy proposed"),
    Op("validate", m.ValidateRequest, m.ValidateResponse, validate, _operate, _always, streams=True,
       summary="run the validators of a phase; each result is a progress line as it finishes"),
    Op("item", m.ItemRequest, m.ItemResponse, item, lambda r: COMPLETE, _always,
       summary="complete, fail, reopen or note a checklist item"),
    Op("signoff", m.SignoffRequest, m.SignoffResponse, signoff, lambda r: f"{SIGN}:{r.role}", _always,
       summary="sign a role (each role by a different OS user)"),
)}
