"""Every kind of event the session log holds, with the payload each carries: one pydantic model per kind.

`KINDS` lists them all. The API's schema document carries these models (a client knows what an event says);
`SessionState.apply` has a handler only for the kinds that change the state. With `MDM_CHECK_EVENTS=1` (the
test suite sets it) the engine checks every payload it records against its kind's model and refuses an unknown
kind, so a payload that drifts from this module fails a test instead of reaching a log.
"""

from __future__ import annotations

import os
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

Level = Literal["info", "warning", "error", "critical"]


class Payload(BaseModel):
    model_config = ConfigDict(extra="forbid")


# ---- the session ----------------------------------------------------------------------------------------------
class SessionStarted(Payload):
    """A process opened the session (console, serve, a CLI command that changed something)."""

    mode: str
    plan_path: str
    plan_name: str
    plan_sha256: str
    demo: bool
    pid: int
    version: str


class PlanChanged(Payload):
    old_sha256: str
    new_sha256: str
    plan_path: str


class Checkpoint(Payload):
    """The state at `at_seq` was saved; its sha256 vouches for the saved copy."""

    at_seq: int
    state_sha256: str


class CheckpointDiscarded(Payload):
    at_seq: int
    why: str


class ComponentRemoved(Payload):
    stage: str
    percent: float
    point: str
    reason: str


class ClockStepped(Payload):
    step_s: float
    at: str


class TaskRestarted(Payload):
    task: str
    error: str
    backoff_s: float
    restarts: int


class MonitorError(Payload):
    error: str


class AccessRefused(Payload):
    """A request through the socket that the plan's [access] does not allow (the actor is the caller)."""

    action: str
    uid: int
    pid: int
    reason: str
    refused_since: int = Field(0, description="refusals of this caller and action not recorded one by one since "
                               "the last such event (at most one event per caller and action a minute)")


# ---- alerts -----------------------------------------------------------------------------------------------------
class AlertRaised(Payload):
    alert: str
    level: Level
    message: str
    value: float | None = None
    threshold: float | None = None
    ack: bool = Field(False, description="only a person's acknowledgement clears it")
    component: str | None = None
    present: str | None = Field(None, description="the operator present when a policy acted")
    expected: str | None = None  # flags.drift: the sha256 the session wrote
    on_disk: str | None = None  # flags.drift: the sha256 found


class AlertCleared(Payload):
    alert: str
    message: str
    value: float | None = None
    acknowledged: bool = False
    note: str = ""


# ---- rollout ----------------------------------------------------------------------------------------------------
Gate = dict[str, Any]  # a GateResult: name, ok, value, threshold, comparison, reason, measured_at


class AdvanceRefused(Payload):
    from_: str = Field(alias="from")
    to: str
    failing: list[Gate]


class GateOverride(Payload):
    from_: str = Field(alias="from")
    to: str
    reason: str
    failing: list[Gate]


class HoldReleased(Payload):
    reason: str
    rollback_seq: int | None
    held_reason: str | None


class AutoAdvanceSet(Payload):
    enabled: bool
    reason: str = ""


class Intent(Payload):
    """A side effect is about to be made (flag file, config files); `intent.done` closes it."""

    intent: str
    action: str
    before_point: str
    flags: list[list[Any]] | None
    files: list[dict[str, Any]]
    changes: list[dict[str, Any]]
    how: str | None = None
    reason: str = ""
    override: str | None = None
    gates: dict[str, list[Gate]] | None = None
    rollback: dict[str, Any] | None = None


class IntentDone(Payload):
    intent: str
    resolution: str
    error: str | None = None
    reconciled: bool = False
    why: str | None = Field(None, description="why it was finished or reverted without a person (at start)")


class EffectFailed(Payload):
    intent: str
    action: str
    error: str
    undo_problems: list[str]


class StageChanged(Payload):
    component: str
    from_: str = Field(alias="from")
    to: str
    from_percent: float
    to_percent: float
    how: str | None
    reason: str
    intent: str
    flag_seq: int
    gates: list[Gate] | None = None
    override: str | None = None
    rollback: dict[str, Any] | None = None


class FlagsWritten(Payload):
    intent: str
    sha256: str
    seqs: dict[str, int]


class FlagsAdopted(Payload):
    path: str
    sha256: str
    point: str
    reason: str


class FileRestored(Payload):
    intent: str
    label: str
    path: str
    sha256: str | None


class PointCreated(Payload):
    id: str
    label: str
    auto: bool
    reason: str
    files: list[dict[str, Any]]
    stages: dict[str, dict[str, Any]]


class PointFailed(Payload):
    id: str
    label: str
    error: str


# ---- rollback ---------------------------------------------------------------------------------------------------
class _RollbackRequest(Payload):
    kind: Literal["full", "component", "flags", "config"]
    component: str | None
    to_stage: str | None
    point: str | None
    reason: str
    automatic: bool
    answers: int | None = Field(None, description="the seq of the rollback.proposed this rollback accepts")


class ProposalAnswered(Payload):
    """A pending rollback proposal (prompt mode) ends: a person accepted it (the rollback follows) or declined it,
    or it was withdrawn because its criterion stopped holding or the stage moved under it."""

    component: str
    answers: int = Field(description="the seq of the rollback.proposed it answers")
    answer: Literal["accepted", "declined", "withdrawn"]
    reason: str


class AlertAcknowledged(Payload):
    """A person has seen an alert that clears by itself; it stays active until its condition ends."""

    alert: str
    note: str


class RollbackProposed(Payload):
    component: str
    criterion: str = Field(description="error_rate | success_rate | latency | verdict: the one that held longest")
    value: float
    threshold: float
    held_s: float = Field(description="how long that criterion held without a break (its own clock)")
    low: float | None = Field(None, description="its lowest value over that span")
    high: float | None = Field(None, description="its highest value over that span")
    mode: str
    reason: str
    window_s: float
    evidence: str = Field("", description="the sample counts on each path the criterion read")
    present: str
    repeat: int = Field(0, description="prompt mode: how many times it was proposed again, unanswered")


class RollbackStarted(_RollbackRequest):
    changes: list[dict[str, Any]]
    restore: list[str] = Field(description="the labels of the files put back")
    present: str | None = None


class RollbackRefused(_RollbackRequest):
    error: str


class RollbackFinished(_RollbackRequest):
    elapsed_s: float
    flags_s: float | None
    target_s: float
    within_target: bool
    verified: bool | None
    verification: dict[str, Any] | None
    interrupted: str | None = Field(None, description="a crash stopped it; how it was finished at the next start")


class RollbackFailed(_RollbackRequest):
    """A rollback that started but did not change the flags: what blocked it (nothing is half-written)."""

    error: str
    started_seq: int


class RollbackAutoFailed(Payload):
    """The policy's rollback could not run; recorded once per cause (not per attempt), with the next wait."""

    component: str
    error: str
    reason: str
    retry_s: float | None = Field(None, description="the policy tries again after this many seconds (backoff)")


# ---- validators ---------------------------------------------------------------------------------------------------
class ValidationStarted(Payload):
    run: str
    phase: str
    only: list[str]
    validators: list[str]
    batches: list[list[Any]]


class ValidatorStarted(Payload):
    run: str
    id: str
    kind: str


class ValidatorResult(Payload):
    run: str
    id: str
    kind: str
    phase: str
    batch: str
    critical: bool
    status: Literal["passed", "failed", "error", "timeout", "cancelled", "skipped"]
    duration_ms: float | None
    max_ms: float | None
    detail: str
    measured: Any
    output_tail: str


class ValidationFinished(Payload):
    run: str
    phase: str
    only: list[str]
    ok: bool
    counts: dict[str, int]
    critical_failures: list[str]
    stopped: str | None
    duration_ms: float
    interrupted: bool = Field(False, description="a crash ended the process running it; closed at the next start")


# ---- checklist and sign-offs -------------------------------------------------------------------------------------
class ChecklistStatus(Payload):
    item: str
    status: Literal["pending", "in_progress", "completed", "failed"]
    previous: str | None = None
    reason: str = ""
    relied_on: dict[str, int] = {}
    reopened: bool = False
    evidence: list[str] = Field([], description="the facts of the log the item states, checked when completed")


class ChecklistNote(Payload):
    item: str
    text: str


class ChecklistRefused(Payload):
    item: str
    action: str
    reasons: list[str]


class SignoffRecorded(Payload):
    role: str
    name: str
    comment: str
    state_hash: str
    state: dict[str, Any]
    warnings: list[str]
    renews: str | None
    rehearsal: bool = Field(False, description="one OS user signed several roles (access.one_os_user_for_rehearsal)")


class SignoffRefused(Payload):
    role: str
    name: str
    reasons: list[str]


# ---- the verdict and notifications ----------------------------------------------------------------------------------
class VerdictChanged(Payload):
    verdict: str
    text: str
    stage: str
    errors: dict[str, Any]
    latency: dict[str, Any] | None


class _Delivery(Payload):
    target: str
    topic: str = Field("", description="empty for a target that could not be made ready (no event yet)")
    seq: int | None = Field(description="the event delivered; None for a target that could not be made ready")
    attempt: int
    final: bool
    latency_ms: float


class NotifySent(_Delivery):
    pass


class NotifyFailed(_Delivery):
    error: str


KINDS: dict[str, type[Payload]] = {
    "session.started": SessionStarted, "plan.changed": PlanChanged, "checkpoint": Checkpoint,
    "checkpoint.discarded": CheckpointDiscarded, "component.removed": ComponentRemoved,
    "clock.stepped": ClockStepped, "task.restarted": TaskRestarted, "monitor.error": MonitorError,
    "access.refused": AccessRefused,
    "alert.raised": AlertRaised, "alert.cleared": AlertCleared,
    "advance.refused": AdvanceRefused, "gate.override": GateOverride, "hold.released": HoldReleased,
    "auto_advance.set": AutoAdvanceSet, "intent": Intent, "intent.done": IntentDone, "effect.failed": EffectFailed,
    "stage.changed": StageChanged, "flags.written": FlagsWritten, "flags.adopted": FlagsAdopted,
    "file.restored": FileRestored, "point.created": PointCreated, "point.failed": PointFailed,
    "rollback.proposed": RollbackProposed, "rollback.started": RollbackStarted, "rollback.refused": RollbackRefused,
    "rollback.finished": RollbackFinished, "rollback.auto_failed": RollbackAutoFailed,
    "rollback.failed": RollbackFailed,
    "proposal.answered": ProposalAnswered, "alert.acknowledged": AlertAcknowledged,
    "validation.started": ValidationStarted, "validator.started": ValidatorStarted,
    "validator.result": ValidatorResult, "validation.finished": ValidationFinished,
    "checklist.status": ChecklistStatus, "checklist.note": ChecklistNote, "checklist.refused": ChecklistRefused,
    "signoff.recorded": SignoffRecorded, "signoff.refused": SignoffRefused,
    "verdict.changed": VerdictChanged, "notify.sent": NotifySent, "notify.failed": NotifyFailed,
}

CHECK = os.environ.get("MDM_CHECK_EVENTS") == "1"


class UnknownEvent(ValueError):
    pass


def check(kind: str, payload: dict[str, Any]) -> None:
    """Raise when `payload` is not what `kind` carries (used when MDM_CHECK_EVENTS=1)."""
    model = KINDS.get(kind)
    if model is None:
        raise UnknownEvent(f"event kind '{kind}' is not in mdm_console.engine.events.KINDS")
    model.model_validate(payload)
