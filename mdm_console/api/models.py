"""The API's bodies: one pydantic model per request and per answer, shared by the server and its clients.

Every request carries the operator's typed name; who the caller is comes from the kernel, not from here.
`schema()` builds the document the service serves at /v1/schema (and docs/api-schema.json holds a copy).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

API_VERSION = 1


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", defer_build=True)


class Request(Body):
    operator: str | None = Field(None, description="the typed name recorded beside the caller's OS user")
    deadline: float | None = Field(None, description="Unix time after which the caller no longer waits: a request "
                                   "that reaches the owner later is refused, never carried out")


# ---- answers every route may give ------------------------------------------------------------------------
class ErrorBody(Body):
    code: int = Field(description="the CLI exit code this error means (1 refused or failed, 2 bad request)")
    message: str


class Hello(Body):
    service: Literal["mdm-console"] = "mdm-console"
    api: int = API_VERSION
    version: str
    mode: Literal["serve", "console"]
    pid: int
    os_user: str = Field(description="the OS user that owns the session")
    session_db: str
    plan_path: str
    plan_name: str
    plan_sha256: str
    demo: bool
    head_seq: int
    you: dict[str, Any] = Field(description="the caller as the kernel names it, and what it may do")


class WireEvent(Body):
    seq: int
    ts: datetime
    kind: str
    component: str | None = None
    operator: str
    os_user: str
    host: str
    payload: dict[str, Any]
    prev_hash: str
    hash: str


class StreamLine(Body):
    """One line of /v1/events (JSON Lines): an event, a health snapshot, or a keep-alive."""

    event: WireEvent | None = None
    health: dict[str, Any] | None = None
    alive: float | None = None
    dropped: str | None = Field(None, description="the last line of a stream whose reader fell too far behind: "
                                "why; reconnect with after= the last seq read")


# ---- the operations -----------------------------------------------------------------------------------------
class StatusRequest(Request):
    pass


class StatusResponse(Body):
    status: dict[str, Any]


class AdvanceRequest(Request):
    component: str
    override: str | None = None
    reason: str = ""
    dry_run: bool = False
    adopt_flag_file: str | None = None
    expect_stage: str | None = Field(None, description="compare-and-set: the stage the person saw; refused, naming "
                                     "who moved it and when, if the component is no longer there")


class AdvanceResponse(Body):
    component: str
    from_stage: str
    to_stage: str
    to_percent: float
    gates: list[dict[str, Any]]
    failing: list[dict[str, Any]]
    blocked: bool
    dry_run: bool
    done: bool
    override: str | None
    flag_diff: str
    seq: int | None
    adopted: str | None = Field(None, description="the sha256 of a flag file taken over first")


class StepBackRequest(Request):
    component: str
    reason: str = ""
    dry_run: bool = False
    expect_stage: str | None = Field(None, description="compare-and-set: the stage the person saw; refused, naming "
                                     "who moved it and when, if the component is no longer there")


class AutoAdvanceRequest(Request):
    component: str
    enabled: bool
    reason: str = ""
    expect_stage: str | None = Field(None, description="compare-and-set: the stage the person saw; refused, naming "
                                     "who moved it and when, if the component is no longer there")


class StageResponse(Body):
    component: str
    from_stage: str
    to_stage: str
    from_percent: float
    to_percent: float
    dry_run: bool = False
    seq: int


class RollbackRequest(Request):
    kind: Literal["full", "component", "flags", "config"]
    component: str | None = None
    to_stage: str | None = None
    point: str | None = None
    reason: str = ""
    dry_run: bool = False
    answers: int | None = None  # the seq of the rollback.proposed this rollback accepts (the wizard)
    expect_stages: dict[str, str] | None = Field(None, description="compare-and-set: component -> the stage the "
                                                 "person saw; refused, naming who moved it, if one moved since")


class RollbackResponse(Body):
    nothing_to_do: str | None = Field(None, description="the rollback would change nothing: said, nothing recorded")
    lines: list[str]
    flag_diff: str
    file_diffs: list[str]
    dry_run: bool
    elapsed_s: float | None = None
    flags_s: float | None = None
    target_s: float | None = None
    within_target: bool | None = None
    verified: bool | None = None
    verification: dict[str, Any] | None = None


class PointsRequest(Request):
    take: str | None = None


class PointsResponse(Body):
    taken: str | None
    points: list[dict[str, Any]]


class ValidateRequest(Request):
    phase: str = "preflight"
    only: list[str] | None = None
    jobs: int | None = Field(None, ge=1)


class ValidateResponse(Body):
    run_id: str
    phase: str
    results: list[dict[str, Any]]
    counts: dict[str, int]
    stopped: str | None
    duration_ms: float
    ok: bool
    critical_failures: list[str]


class ChecklistRequest(Request):
    pass


class ChecklistResponse(Body):
    state_hash: str
    items: list[dict[str, Any]]
    signoffs: list[dict[str, Any]]


class ItemRequest(Request):
    action: Literal["complete", "fail", "reopen", "note"]
    item: str
    text: str = Field("", description="the reason (fail, reopen) or the note")
    expect_status: str | None = Field(None, description="compare-and-set: the item's status the person saw "
                                      "(pending, in_progress, completed, failed)")


class ItemResponse(Body):
    id: str
    status: str
    relied_on: dict[str, int]


class SignoffRequest(Request):
    role: str
    name: str
    comment: str = ""


class SignoffResponse(Body):
    role: str
    name: str
    ts: str
    state_hash: str
    os_user: str
    rehearsal: bool


class ReconcileRequest(Request):
    choice: Literal["finish", "revert"] | None = None
    yes: bool = False
    intent: str | None = Field(None, description="only this open intent")


class ReconcileResponse(Body):
    intents: list[dict[str, Any]]


class VerifyRequest(Request):
    expect_head: str | None = None


class VerifyResponse(Body):
    ok: bool
    line: str
    events: int
    head_seq: int
    head_hash: str
    bad_seq: int | None
    reason: str | None
    checkpoint_problems: list[str]
    partial_from: int | None
    contains_head: bool | None


class AcknowledgeRequest(Request):
    alert: str
    note: str = ""


class AcknowledgeResponse(Body):
    alert: str
    seq: int


class ProposalRequest(Request):
    """A person's answer to the rollback the policy proposed for a component (prompt mode)."""

    component: str
    answer: Literal["accept", "decline"]
    reason: str = ""  # required to decline
    expect_seq: int | None = None  # the proposal the person saw: refused if a newer one (or none) is pending


class ProposalResponse(Body):
    component: str
    answer: str
    answers: int  # the proposal's seq
    seq: int  # the head after the answer (and, accepted, the rollback)
    rollback: RollbackResponse | None = None


class ExportRequest(Request):
    format: Literal["md", "html", "jsonl", "csv", "parquet"]
    since: int = 0


class ExportResponse(Body):
    ticket: str = Field(description="GET /v1/export/{ticket}/{index} gives each file's bytes, once")
    files: list[dict[str, Any]] = Field(description="[{index, role, size, sha256}]: role 'events' or 'metrics'")
    events: int
    chain_ok: bool


class LogRequest(Request):
    kind: str = Field("", description="kind prefix, or a pattern with * (alert.*)")
    component: str = ""
    text: str = Field("", description="only events whose JSON contains this text (any case)")
    after: int = Field(0, description="only events after this seq")
    before: int | None = Field(None, description="only events before this seq (the next older page)")
    limit: int = Field(200, ge=1, le=10_000)


class LogResponse(Body):
    events: list[WireEvent] = Field(description="newest first")
    total: int = Field(description="how many events match the kind and component filters")


class PlanRequest(Request):
    pass


class PlanResponse(Body):
    path: str
    sha256: str
    demo: bool
    plan: dict[str, Any] = Field(description="the plan as validated, secrets in validator params and notify URLs masked")


class StateRequest(Request):
    pass


class StateResponse(Body):
    head_seq: int
    state: str = Field(description="the session state at head_seq (the projection of every event), as JSON")


class ValidatorOutputRequest(Request):
    id: str


class ValidatorOutputResponse(Body):
    output: str


class CancelRequest(Request):
    validator: str | None = Field(None, description="one running validator; none: every running one")


class CancelResponse(Body):
    cancelled: int


class FlagsRequest(Request):
    action: Literal["restore", "adopt"]
    reason: str


class FlagsResponse(Body):
    sha256: str | None


class SeriesRequest(Request):
    component: str


class SeriesResponse(Body):
    series: dict[str, list[list[float]]] = Field(
        description="per path (new path, old path, no variant): [seconds ago], [error %], [p99 ms] per 5 s bucket")


def wire_event(ev) -> WireEvent:
    return WireEvent(seq=ev.seq, ts=ev.ts, kind=ev.kind, component=ev.component, operator=ev.actor.operator,
                     os_user=ev.actor.os_user, host=ev.actor.host, payload=ev.payload, prev_hash=ev.prev_hash,
                     hash=ev.hash)


def event_of(w: WireEvent):
    from mdm_console.store.chain import Actor, Event

    return Event(w.seq, w.ts, Actor(w.operator, w.os_user, w.host), w.kind, w.component, w.payload, w.prev_hash,
                 w.hash)
