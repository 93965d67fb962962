"""The in-memory projection of the event log.

`SessionState.apply(event)` is the only way state changes; start-up rebuilds it by
replaying events (from the newest checkpoint on). Nothing here does I/O.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from mdm_console.plan.models import Plan
from mdm_console.store.chain import Event

# The alert of an automatic rollback the policy decided and cannot carry out: "rollback_blocked:<component>".
BLOCKED_ALERT = "rollback_blocked:"
# Checkpoint layouts: 5 people named by their OS user; 4 who set each stage; 3 rollbacks hold, proposals;
# 2 `last`. An older checkpoint is replayed instead.
CHECKPOINT_VERSION = 5


@dataclass
class ComponentState:
    id: str
    stage: str
    percent: float
    stage_since: str | None = None  # ISO time the current stage began (None: never moved)
    stage_seq: int = 0  # seq of the event that set the stage
    stage_how: str = ""  # how the stage was entered: advance, auto_advance, step_back, rollback, ...
    stage_by: str = ""  # who set it: the operator name, and the OS user when it differs ("Ann (OS user op2)")
    auto_advance: bool = False
    flag_seq: int = 0  # seq of the intent that last wrote this component's flag
    # Set by a rollback that took it down, the policy's or a person's ({"reason", "ts", "seq", "automatic", "by"}),
    # cleared when a person says why it may go forward: a held component advances only by an override or by
    # resuming auto-advance with a reason (like Argo Rollouts' aborted state).
    held: dict[str, Any] | None = None
    # A rollback the policy proposed (prompt mode) that nobody has answered yet: {"seq", "ts", "criterion",
    # "reason", "repeat"}; it ends with an answer (accepted, declined, withdrawn) or when the stage moves.
    proposal: dict[str, Any] | None = None


@dataclass
class ItemState:
    status: str = "pending"  # pending | in_progress | completed | failed (blocked is derived)
    seq: int = 0
    by: str | None = None
    reason: str | None = None
    relied_on: dict[str, int] = field(default_factory=dict)  # validator id -> result seq
    notes: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class SignoffState:
    role: str
    name: str
    os_user: str
    host: str
    ts: str
    comment: str
    state_hash: str
    seq: int


@dataclass
class ValidatorResult:
    id: str
    status: str  # passed | failed | error | timeout | cancelled
    seq: int
    ts: str
    duration_ms: float | None
    detail: str
    phase: str | None = None


@dataclass
class SessionState:
    head_seq: int = 0
    head_hash: str = ""
    plan_sha256: str | None = None
    sessions: int = 0
    started_at: str | None = None  # ISO time of the first session.started
    flags_sha256: str | None = None  # what the console last wrote to the flag file
    alerts: dict[str, dict[str, Any]] = field(default_factory=dict)  # active alerts by id
    components: dict[str, ComponentState] = field(default_factory=dict)
    validators: dict[str, ValidatorResult] = field(default_factory=dict)
    phase_runs: dict[str, int] = field(default_factory=dict)  # phase -> seq of the last finished run
    checklist: dict[str, ItemState] = field(default_factory=dict)
    signoffs: dict[str, SignoffState] = field(default_factory=dict)
    signed_states: dict[str, dict[str, Any]] = field(default_factory=dict)  # signoff seq -> checklist signed
    points: dict[str, dict[str, Any]] = field(default_factory=dict)
    open_intents: dict[str, dict[str, Any]] = field(default_factory=dict)
    rollbacks: int = 0
    clock_stepped_at: str | None = None  # ISO wall time just after the newest detected clock step
    verdicts: dict[str, str] = field(default_factory=dict)  # component -> the last recorded canary verdict
    # notify target -> {"sent", "failed", "last_error", "last_seq"}: deliveries (a failure counts once, when final)
    notify: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Components the log moved but the plan no longer has: id -> {"stage", "percent"} (0 % ones dropped).
    dropped: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The newest event of each kind (and of each alert level, "alert.raised:critical"): {"seq", "ts", "what"},
    # the facts checklist evidence is judged on.
    last: dict[str, dict[str, Any]] = field(default_factory=dict)
    # Validation runs started and not finished (run id -> {"phase", "only", "seq", "ts"}): a crash stopped them.
    validation_open: dict[str, dict[str, Any]] = field(default_factory=dict)
    # The newest rollback.started that has no rollback.finished or rollback.failed yet (a crash stopped it):
    # its payload with "seq" and "ts"; the next start finishes it (Engine.open).
    rollback_open: dict[str, Any] | None = None
    # component -> the newest answer to a rollback proposal: {"answer", "reason", "by", "ts", "seq"}
    last_answers: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        # The checklist items and validators events touched, ("item", id) / ("validator", id) -> the count of
        # touches at its last, oldest first: the checklist remakes only the views of those touched since it
        # last looked (and what depends on them). One entry per item or validator, however long the session;
        # not part of the state (not in a checkpoint: a state loaded from one starts with none, and the
        # checklist with a full pass).
        self.touches = 0
        self.checklist_touched: dict[tuple[str, str], int] = {}

    def touch(self, kind: str, key: str) -> None:
        self.touches += 1
        self.checklist_touched.pop((kind, key), None)  # moved to the end: the newest touches are last
        self.checklist_touched[(kind, key)] = self.touches

    def touched_since(self, touches: int) -> set[tuple[str, str]]:
        out = set()
        for key in reversed(self.checklist_touched):
            if self.checklist_touched[key] <= touches:
                break
            out.add(key)
        return out

    @classmethod
    def initial(cls, plan: Plan) -> SessionState:
        first = plan.stages[0]
        state = cls()
        for c in plan.components:
            state.components[c.id] = ComponentState(
                id=c.id, stage=first.name, percent=first.percent, auto_advance=plan.gate_for(c.id).auto_advance
            )
        for item in plan.checklist:
            state.checklist[item.id] = ItemState()
        return state

    def rollbacks_pending(self) -> list[str]:
        """Components whose automatic rollback is decided but blocked (its alert says what blocks it)."""
        return [a[len(BLOCKED_ALERT):] for a in self.alerts if a.startswith(BLOCKED_ALERT)]

    def apply(self, event: Event) -> None:
        handler = HANDLERS.get(event.kind)
        if handler is not None:
            handler(self, event)
        p = event.payload
        fact = {"seq": event.seq, "ts": iso(event.ts),
                "what": str(p.get("message") or p.get("reason") or p.get("error") or event.component or "")[:200]}
        self.last[event.kind] = fact
        if event.kind == "alert.raised":
            self.last[f"alert.raised:{p.get('level')}"] = fact
        self.head_seq = event.seq
        self.head_hash = event.hash

    # ---- checkpoints ------------------------------------------------------------------
    def to_json(self) -> str:
        return json.dumps({"version": CHECKPOINT_VERSION, "state": asdict(self)}, separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> SessionState | None:
        data = json.loads(text)
        if data.get("version") != CHECKPOINT_VERSION:
            return None  # an older layout: replay from the start instead
        s = data["state"]
        state = cls(**{k: v for k, v in s.items() if k not in {
            "components", "validators", "checklist", "signoffs"}})
        state.components = {k: ComponentState(**v) for k, v in s["components"].items()}
        state.validators = {k: ValidatorResult(**v) for k, v in s["validators"].items()}
        state.checklist = {k: ItemState(**v) for k, v in s["checklist"].items()}
        state.signoffs = {k: SignoffState(**v) for k, v in s["signoffs"].items()}
        return state


ENGINE_ACTORS = ("policy:", "recovery:")  # what the engine does by itself (engine/core.py POLICY, RECOVERY)


def person(actor) -> str:
    """Who acted, as people should read it: the OS user the kernel named, and beside it a typed name that differs
    (`op2 (typed "Ann")`); the engine's own actors by their name, on whose account they ran."""
    if actor.operator == actor.os_user:
        return actor.os_user
    if actor.operator.startswith(ENGINE_ACTORS):
        return f"{actor.operator} (OS user {actor.os_user})"
    return f'{actor.os_user} (typed "{actor.operator}")'


def iso(ts: datetime) -> str:
    return ts.astimezone(UTC).isoformat()


Handler = Callable[[SessionState, Event], None]
HANDLERS: dict[str, Handler] = {}


def handles(kind: str) -> Callable[[Handler], Handler]:
    def register(fn: Handler) -> Handler:
        HANDLERS[kind] = fn
        return fn

    return register


@handles("session.started")
def _session_started(state: SessionState, ev: Event) -> None:
    state.sessions += 1
    state.plan_sha256 = ev.payload.get("plan_sha256")
    state.started_at = state.started_at or iso(ev.ts)


@handles("plan.changed")
def _plan_changed(state: SessionState, ev: Event) -> None:
    state.plan_sha256 = ev.payload.get("new_sha256")


@handles("stage.changed")
def _stage_changed(state: SessionState, ev: Event) -> None:
    comp = state.components.get(ev.component or "")
    if comp is None:  # a component the plan no longer has: remembered until its removal is recorded
        if ev.payload["to_percent"] > 0:
            state.dropped[ev.component or ""] = {"stage": ev.payload["to"], "percent": ev.payload["to_percent"]}
        else:
            state.dropped.pop(ev.component or "", None)
        return
    comp.stage = ev.payload["to"]
    comp.percent = ev.payload["to_percent"]
    state.verdicts.pop(comp.id, None)  # a new stage is a new test
    comp.stage_since = iso(ev.ts)
    comp.stage_seq = ev.seq
    comp.stage_how = ev.payload.get("how") or ""
    comp.stage_by = person(ev.actor)
    comp.proposal = None  # overtaken: the stage it proposed to leave is gone
    if ev.payload["to_percent"] > ev.payload["from_percent"]:
        comp.held = None  # only a released hold lets a stage go up (logs from before every rollback held)
    comp.flag_seq = ev.payload.get("flag_seq", ev.seq)


@handles("clock.stepped")
def _clock_stepped(state: SessionState, ev: Event) -> None:
    state.clock_stepped_at = ev.payload["at"]


@handles("component.removed")
def _component_removed(state: SessionState, ev: Event) -> None:
    state.dropped.pop(ev.component or "", None)


@handles("auto_advance.set")
def _auto(state: SessionState, ev: Event) -> None:
    comp = state.components.get(ev.component or "")
    if comp is not None:
        comp.auto_advance = bool(ev.payload["enabled"])


@handles("flags.written")
def _flags_written(state: SessionState, ev: Event) -> None:
    state.flags_sha256 = ev.payload["sha256"]
    for cid, seq in ev.payload.get("seqs", {}).items():
        if cid in state.components:
            state.components[cid].flag_seq = seq


@handles("flags.adopted")
def _flags_adopted(state: SessionState, ev: Event) -> None:
    state.flags_sha256 = ev.payload["sha256"]


@handles("alert.raised")
def _alert_raised(state: SessionState, ev: Event) -> None:
    state.alerts[ev.payload["alert"]] = {**ev.payload, "seq": ev.seq, "ts": iso(ev.ts)}


@handles("alert.cleared")
def _alert_cleared(state: SessionState, ev: Event) -> None:
    state.alerts.pop(ev.payload["alert"], None)


@handles("validator.result")
def _validator_result(state: SessionState, ev: Event) -> None:
    p = ev.payload
    state.touch("validator", p["id"])
    state.validators[p["id"]] = ValidatorResult(
        id=p["id"], status=p["status"], seq=ev.seq, ts=iso(ev.ts),
        duration_ms=p.get("duration_ms"), detail=p.get("detail", ""), phase=p.get("phase"),
    )


@handles("validation.started")
def _validation_started(state: SessionState, ev: Event) -> None:
    p = ev.payload
    state.validation_open[p["run"]] = {"phase": p.get("phase"), "only": p.get("only") or [], "seq": ev.seq,
                                       "ts": iso(ev.ts)}


@handles("validation.finished")
def _validation_finished(state: SessionState, ev: Event) -> None:
    state.validation_open.pop(ev.payload.get("run"), None)
    phase = ev.payload.get("phase")
    if ev.payload.get("interrupted"):
        return  # not a run of the phase: nothing was judged to its end
    if phase and not ev.payload.get("only"):  # a run of a few chosen validators is not a phase run
        state.phase_runs[phase] = ev.seq


@handles("checklist.status")
def _item_status(state: SessionState, ev: Event) -> None:
    item = state.checklist.get(ev.payload["item"])
    if item is None:
        return
    state.touch("item", ev.payload["item"])
    item.status = ev.payload["status"]
    item.seq = ev.seq
    item.by = ev.actor.operator
    item.reason = ev.payload.get("reason")
    item.relied_on = dict(ev.payload.get("relied_on", {}))


@handles("checklist.note")
def _item_note(state: SessionState, ev: Event) -> None:
    item = state.checklist.get(ev.payload["item"])
    if item is not None:
        state.touch("item", ev.payload["item"])
        item.notes.append({"seq": ev.seq, "ts": iso(ev.ts), "by": ev.actor.operator, "text": ev.payload["text"]})


@handles("signoff.recorded")
def _signoff(state: SessionState, ev: Event) -> None:
    p = ev.payload
    state.signoffs[p["role"]] = SignoffState(
        role=p["role"], name=p["name"], os_user=ev.actor.os_user, host=ev.actor.host, ts=iso(ev.ts),
        comment=p.get("comment", ""), state_hash=p["state_hash"], seq=ev.seq,
    )
    state.signed_states[str(ev.seq)] = p.get("state", {})


@handles("point.created")
def _point(state: SessionState, ev: Event) -> None:
    state.points[ev.payload["id"]] = {**ev.payload, "seq": ev.seq, "ts": iso(ev.ts), "by": ev.actor.operator}


@handles("intent")
def _intent(state: SessionState, ev: Event) -> None:
    state.open_intents[ev.payload["intent"]] = {**ev.payload, "seq": ev.seq}


@handles("intent.done")
def _intent_done(state: SessionState, ev: Event) -> None:
    state.open_intents.pop(ev.payload["intent"], None)


@handles("rollback.started")
def _rollback_started(state: SessionState, ev: Event) -> None:
    """A rollback, automatic or a person's, holds every component it takes down: nothing walks it forward again (an
    auto-advance, a plain advance) until a person says why (an override, or resuming auto-advance with a reason)."""
    automatic = bool(ev.payload.get("automatic"))
    state.rollback_open = {**ev.payload, "seq": ev.seq, "ts": iso(ev.ts), "component": ev.component}
    for change in ev.payload.get("changes") or []:
        comp = state.components.get(change.get("component") or "")
        if comp is not None and change.get("to_percent", 0) < change.get("from_percent", 0):
            comp.held = {"reason": ev.payload.get("reason", ""), "ts": iso(ev.ts), "seq": ev.seq,
                         "automatic": automatic, "by": person(ev.actor)}


@handles("rollback.proposed")
def _rollback_proposed(state: SessionState, ev: Event) -> None:
    comp = state.components.get(ev.component or "")
    if comp is not None and ev.payload.get("mode") == "prompt":
        p = ev.payload
        comp.proposal = {"seq": ev.seq, "ts": iso(ev.ts), "criterion": p.get("criterion"), "reason": p.get("reason"),
                         "repeat": p.get("repeat", 0)}


@handles("proposal.answered")
def _proposal_answered(state: SessionState, ev: Event) -> None:
    comp = state.components.get(ev.component or "")
    if comp is not None and comp.proposal and comp.proposal["seq"] == ev.payload["answers"]:
        comp.proposal = None
    state.last_answers[ev.component or ""] = {"answer": ev.payload["answer"], "reason": ev.payload["reason"],
                                              "by": person(ev.actor), "ts": iso(ev.ts), "seq": ev.seq}


@handles("alert.acknowledged")
def _alert_acknowledged(state: SessionState, ev: Event) -> None:
    alert = state.alerts.get(ev.payload["alert"])
    if alert is not None:
        alert["acknowledged"] = {"by": person(ev.actor), "note": ev.payload["note"], "ts": iso(ev.ts), "seq": ev.seq}


@handles("verdict.changed")
def _verdict_changed(state: SessionState, ev: Event) -> None:
    state.verdicts[ev.component or ""] = ev.payload["verdict"]


@handles("notify.sent")
def _notify_sent(state: SessionState, ev: Event) -> None:
    t = state.notify.setdefault(ev.payload["target"], {"sent": 0, "failed": 0, "last_error": None, "last_seq": None})
    t["sent"] += 1
    t["last_seq"] = ev.payload.get("seq")


@handles("notify.failed")
def _notify_failed(state: SessionState, ev: Event) -> None:
    t = state.notify.setdefault(ev.payload["target"], {"sent": 0, "failed": 0, "last_error": None, "last_seq": None})
    if ev.payload.get("final", True):
        t["failed"] += 1
    t["last_error"] = ev.payload.get("error")


@handles("hold.released")
def _hold_released(state: SessionState, ev: Event) -> None:
    comp = state.components.get(ev.component or "")
    if comp is not None:
        comp.held = None


@handles("rollback.finished")
def _rollback_done(state: SessionState, ev: Event) -> None:
    state.rollbacks += 1
    state.rollback_open = None


@handles("rollback.failed")
def _rollback_failed(state: SessionState, ev: Event) -> None:
    """A rollback that changed nothing holds nothing: no component reads ROLLED BACK while still at its stage."""
    state.rollback_open = None
    for comp in state.components.values():
        if comp.held and comp.held.get("seq") == ev.payload.get("started_seq"):
            comp.held = None
