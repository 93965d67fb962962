"""Pydantic models for the plan file (DESIGN section 4).

Every model forbids unknown keys: plans are written by people, and a typo in a
threshold name must not silently fall back to a default during a cutover.
Cross-references (dependencies, roles, validators) are checked in `Plan`.
"""

from __future__ import annotations

import re
from functools import cached_property

from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mdm_console.plan.validator_params import VALIDATOR_PARAMS

Ratio = Annotated[float, Field(ge=0.0, le=1.0)]
Identifier = Annotated[str, Field(min_length=1, max_length=100, pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]*$")]


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Stage(Strict):
    name: Identifier
    percent: Annotated[float, Field(ge=0, le=100)]


DEFAULT_STAGES: tuple[Stage, ...] = (
    Stage(name="testing", percent=0),
    Stage(name="canary", percent=5),
    Stage(name="early_adopters", percent=25),
    Stage(name="general_availability", percent=50),
    Stage(name="full_rollout", percent=100),
    Stage(name="complete", percent=100),
)


class Cutover(Strict):
    name: Annotated[str, Field(min_length=1)]
    flag_file: Path
    session_db: Path | None = None
    snapshot_files: list[Path] = []
    rollback_target_seconds: Annotated[float, Field(gt=0)] = 300
    window_start: datetime | None = None
    window_end: datetime | None = None

    @model_validator(mode="after")
    def _window_order(self) -> Cutover:
        for key in ("window_start", "window_end"):
            value = getattr(self, key)
            if value is not None and value.tzinfo is None:
                raise PlanRefError(key, "a date-time without an offset is ambiguous: add Z (UTC) or +HH:MM")
        if self.window_start and self.window_end and self.window_end <= self.window_start:
            raise ValueError("window_end must be after window_start")
        return self


class Gate(Strict):
    min_success_rate: Ratio = 0.99
    max_error_rate: Ratio = 0.05
    min_operations: Annotated[int, Field(ge=0)] = 100
    min_stage_seconds: Annotated[float, Field(ge=0)] = 600
    auto_advance: bool = False
    verdict: bool = False  # also require the canary verdict "no regression detected" ([verdict])
    require_reason: bool = False  # a person's advance must say why (recorded with the stage change)
    no_critical_alerts: bool = True  # no critical alert of this component may be active
    no_regression: bool = True  # the canary verdict must not be "regression"


class GateOverride(Strict):
    """A component's `[components.gate]`: only what it sets differs from `[gate]`."""

    min_success_rate: Ratio | None = None
    max_error_rate: Ratio | None = None
    min_operations: Annotated[int, Field(ge=0)] | None = None
    min_stage_seconds: Annotated[float, Field(ge=0)] | None = None
    auto_advance: bool | None = None
    verdict: bool | None = None
    require_reason: bool | None = None
    no_critical_alerts: bool | None = None
    no_regression: bool | None = None


class Component(Strict):
    id: Identifier
    title: str = ""
    flag_key: Identifier
    gate: GateOverride = GateOverride()


class PromQLQueries(Strict):
    operations_rate: str
    error_rate: str
    latency_p99_ms: str


class Metrics(Strict):
    source: Literal["jsonl", "prometheus", "promql", "none"] = "none"
    path: Path | None = None
    url: str | None = None
    prefix: str = "mdm"
    interval_seconds: Annotated[float, Field(gt=0, le=3600)] = 5
    window_seconds: Annotated[float, Field(gt=0)] = 300
    queries: dict[str, PromQLQueries] = {}

    @model_validator(mode="after")
    def _source_needs(self) -> Metrics:
        if self.url is not None and not re.match(r"^https?://[^/\s]+", self.url):
            raise PlanRefError("url", "must be an http:// or https:// URL")
        if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*", self.prefix):
            raise PlanRefError("prefix", "is not a Prometheus metric name prefix ([a-zA-Z_:][a-zA-Z0-9_:]*)")
        if self.window_seconds < self.interval_seconds:
            raise PlanRefError("window_seconds", "must be at least interval_seconds (a window holds data)")
        if self.source == "jsonl" and self.path is None:
            raise ValueError("source 'jsonl' needs 'path'")
        if self.source in ("prometheus", "promql") and not self.url:
            raise ValueError(f"source '{self.source}' needs 'url'")
        if self.source == "promql" and not self.queries:
            raise ValueError("source 'promql' needs [metrics.queries.<component>]")
        return self


class Levels(Strict):
    warning: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    critical: Annotated[float, Field(ge=0, allow_inf_nan=False)]
    for_seconds: Annotated[float, Field(ge=0, le=3600)] = 0  # a level must hold this long to raise, or to clear
    clear: Annotated[float, Field(ge=0, allow_inf_nan=False)] | None = None  # clears only past this (default: 10 %
    # of the warning-critical band back from warning)


class AutoRollback(Strict):
    mode: Literal["off", "prompt", "auto"] = "prompt"
    error_rate_above: Ratio = 0.05
    success_rate_below: Ratio | None = None  # off unless set
    for_seconds: Annotated[float, Field(ge=0)] = 60
    # The latency criterion: the new path's p99 against the old path's, each bounded from its order statistics
    # (the new path's lower bound above the old path's upper bound by both margins), or off.
    latency: bool = True
    degradation_above: Annotated[float, Field(ge=0)] = 0.20
    min_increase_ms: Annotated[float, Field(ge=0)] = 50
    # Operations each path a criterion reads must have in the policy's window before it can hold.
    min_operations: Annotated[int, Field(ge=1)] = 20
    # The policy judges the new path over its own, short window: a fault is not diluted by minutes of
    # healthy traffic before it (docs/operator-guide.md: how long a fault takes to trigger).
    window_seconds: Annotated[float, Field(ge=5, le=3600)] = 30
    on_regression: bool = False  # also act when the canary verdict says "regression"
    # Prompt mode: while a proposal stays unanswered and its criterion still holds, it is proposed (and notified)
    # again this often.
    repropose_seconds: Annotated[float, Field(ge=10)] = 300


class Alerts(Strict):
    error_rate: Levels = Levels(warning=0.02, critical=0.05)
    latency_p99_ms: Levels = Levels(warning=2000, critical=5000)
    # Success rate alerts fire when the value falls *below* the level.
    success_rate: Levels = Levels(warning=0.98, critical=0.95)
    # The console's own host: alerted on only when the plan sets levels (it is often not the application's).
    memory_percent: Levels | None = None
    cpu_percent: Levels | None = None
    auto_rollback: AutoRollback = AutoRollback()

    @model_validator(mode="after")
    def _levels_in_order(self) -> Alerts:
        for key, upper in (("error_rate", 1.0), ("success_rate", 1.0), ("memory_percent", 100.0),
                           ("cpu_percent", 100.0), ("latency_p99_ms", None)):
            lv: Levels | None = getattr(self, key)
            if lv is None:
                continue
            for which in ("warning", "critical"):
                if upper is not None and getattr(lv, which) > upper:
                    raise PlanRefError(f"{key}.{which}", f"must be at most {upper:g}")
            if key == "success_rate":
                if lv.critical > lv.warning:
                    raise PlanRefError(f"{key}.critical", "must not be above warning (success alerts fire below)")
                if lv.clear is not None and lv.clear < lv.warning:
                    raise PlanRefError(f"{key}.clear", "must not be below warning (a success rate clears above it)")
            else:
                if lv.critical < lv.warning:
                    raise PlanRefError(f"{key}.critical", "must not be below warning")
                if lv.clear is not None and lv.clear > lv.warning:
                    raise PlanRefError(f"{key}.clear", "must not be above warning (an alert clears below it)")
        return self


class Verdict(Strict):
    """The canary verdict: the new path against the old one (docs/verdict.md)."""

    alpha: Annotated[float, Field(gt=0, lt=0.5)] = 0.01  # the chance that equal paths are ever called a regression
    min_operations: Annotated[int, Field(ge=1)] = 500  # per path, before "no regression detected"
    error_tolerance: Ratio = 0.0  # an error-rate increase (new - old) below this is not a regression
    # "No regression detected" needs the new path's extra error rate bounded below this (an absolute increase).
    max_error_increase: Annotated[float, Field(gt=0, le=1)] = 0.0005
    latency_tolerance: Annotated[float, Field(ge=0)] = 0.20  # new latencies within this share of the old are equal
    latency_quantile: Annotated[float, Field(gt=0, lt=1)] = 0.5  # the quantile the latency test compares
    latency: bool = True  # judge latency too (needs latencies per operation on both paths)


NotifyTopic = Literal["alert.raised", "alert.cleared", "stage.changed", "rollback.started", "rollback.finished",
                      "auto_rollback", "signoff.recorded", "intent.unfinished", "feed.stale", "validation.failed",
                      "verdict.regression"]
DEFAULT_NOTIFY_TOPICS = [t for t in get_args(NotifyTopic) if t != "alert.cleared"]  # clears: `send_clears`


class NotifyTarget(Strict):
    """A `[[notify]]` target: an Apprise URL (inline, or read from an environment variable and masked)."""

    name: Identifier
    url: Annotated[str, Field(min_length=3)] | None = None
    url_env: Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")] | None = None
    events: list[NotifyTopic] = DEFAULT_NOTIFY_TOPICS
    min_level: Literal["info", "warning", "error", "critical"] = "warning"  # for alert events
    min_interval_seconds: Annotated[float, Field(ge=0)] = 60  # repeats of one alert within it collapse into one
    send_clears: bool = False
    timeout_seconds: Annotated[float, Field(gt=0, le=120)] = 10  # per attempt
    retries: Annotated[int, Field(ge=0, le=10)] = 2

    @model_validator(mode="after")
    def _one_url(self) -> NotifyTarget:
        if (self.url is None) == (self.url_env is None):
            raise PlanRefError("url", "give exactly one of 'url' (an Apprise URL) or 'url_env' (the variable holding it)")
        return self


Phase = Literal["preflight", "post", "rollback"]


class Validator(Strict):
    id: Identifier
    kind: Literal["system", "command", "http", "sql", "compare", "file", "junit", "flags", "python"]
    title: str = ""
    phases: Annotated[list[Phase], Field(min_length=1)] = ["preflight"]
    critical: bool = False
    timeout_seconds: Annotated[float, Field(gt=0, le=86400)] = 30
    max_ms: Annotated[float, Field(gt=0)] | None = None
    batch: str | None = None
    risk: Literal["low", "medium", "high"] = "low"
    params: dict[str, Any] = {}

    @model_validator(mode="after")
    def _params_for_kind(self) -> Validator:
        # Validated here so a bad param is a plan error (exit 2), not a run-time surprise.
        try:
            VALIDATOR_PARAMS[self.kind].model_validate(self.params)
        except ValidationError as exc:
            err = exc.errors(include_url=False)[0]
            where = ".".join(["params", *(str(p) for p in err["loc"])])
            msg = "unknown key" if err["type"] == "extra_forbidden" else err["msg"].removeprefix("Value error, ")
            raise PlanRefError(where, f"{msg} (kind '{self.kind}')") from None
        return self

    def typed_params(self) -> BaseModel:
        return VALIDATOR_PARAMS[self.kind].model_validate(self.params)


EventFact = Annotated[str, Field(pattern=r"^[a-z_]+(\.[a-z_]+)*(:(info|warning|error|critical))?$")]


class Evidence(Strict):
    """Facts of the session log an item states: while the log contradicts one, the item cannot be completed (and
    a completed item says that the log contradicted it since)."""

    no_events: list[EventFact] = []  # event kinds that must not be in the log ("alert.raised:critical": by level)
    no_active_alerts: list[Literal["warning", "error", "critical"]] = []  # no alert of these levels active now
    within_minutes: Annotated[float, Field(gt=0)] | None = None  # no_events looks back this far (default: all)
    min_percent: Annotated[float, Field(ge=0, le=100)] | None = None  # every component at least this rollout %


class ChecklistItem(Strict):
    id: Identifier
    section: Annotated[str, Field(min_length=1)]
    title: Annotated[str, Field(min_length=1)]
    critical: bool = False
    depends_on: list[str] = []
    requires_validators: list[str] = []
    evidence: Evidence | None = None
    description: str = ""


class SignoffRole(Strict):
    role: Annotated[str, Field(min_length=1)]
    requires_sections: list[str] = []
    requires_roles: list[str] = []


Principal = Annotated[str, Field(pattern=r"^(\*|(user|group):[A-Za-z0-9_.][A-Za-z0-9_.$-]*)$")]


class Access(Strict):
    """Who may do what through the session's socket, by OS user or group (as the kernel reports the caller).

    The OS user that owns the session (runs `serve` or the console) may always do everything: it could open the
    session db itself. Without an `[access]` table everyone who can open the socket may do everything (the
    socket is 0600: only that same user). Principals: "user:NAME", "group:NAME", or "*" for anyone who can
    connect. `operate`, `complete` and `sign` imply `observe`."""

    group: Annotated[str, Field(pattern=r"^[A-Za-z0-9_.][A-Za-z0-9_.$-]*$")] | None = None  # socket 0660 for it
    operate: list[Principal] = []  # advance, step back, pause/resume, rollback, validate, reconcile, points
    complete: list[Principal] = []  # checklist complete, fail, reopen, note
    sign: dict[str, list[Principal]] = {}  # role -> who may sign it
    observe: list[Principal] = []  # read only: status, log, events, export, verify
    one_os_user_for_rehearsal: bool = False  # one OS user may sign several roles; each such signature says so


class Plan(Strict):
    version: Literal[1]
    cutover: Cutover
    gate: Gate = Gate()
    stages: list[Stage] = Field(default_factory=lambda: list(DEFAULT_STAGES))
    components: Annotated[list[Component], Field(min_length=1)]
    metrics: Metrics = Metrics()
    alerts: Alerts = Alerts()
    verdict: Verdict = Verdict()
    notify: list[NotifyTarget] = []
    validators: list[Validator] = []
    checklist: list[ChecklistItem] = []
    signoffs: list[SignoffRole] = []
    access: Access | None = None

    @field_validator("stages")
    @classmethod
    def _ladder(cls, stages: list[Stage]) -> list[Stage]:
        if len(stages) < 2:
            raise ValueError("a ladder needs at least two stages (define the whole ladder or none of it)")
        names = [s.name for s in stages]
        for n, name in enumerate(names):
            if name in names[:n]:
                raise ValueError(f"duplicate stage name '{name}'")
        if stages[0].percent != 0:
            raise ValueError(f"the first stage '{stages[0].name}' must be 0 percent")
        for before, after in zip(stages, stages[1:]):
            if after.percent < before.percent:
                raise ValueError(f"stage '{after.name}' has a lower percent than '{before.name}'")
        return stages

    @model_validator(mode="after")
    def _references(self) -> Plan:
        _unique([c.id for c in self.components], "component id", "components")
        _unique([c.flag_key for c in self.components], "flag_key", "components", "flag_key")
        _unique([v.id for v in self.validators], "validator id", "validators")
        _unique([i.id for i in self.checklist], "checklist item id", "checklist")
        _unique([r.role for r in self.signoffs], "sign-off role", "signoffs", "role")
        _unique([t.name for t in self.notify], "notify target", "notify", "name")

        component_ids = {c.id for c in self.components}
        if self.verdict.latency and self.metrics.source in ("promql", "prometheus"):
            wants = [c.id for c in self.components if self.gate.model_copy(
                update=c.gate.model_dump(exclude_none=True)).verdict]
            if wants:  # a verdict gate that could never pass: the feed gives no latency per operation
                raise PlanRefError("verdict.latency", f"a {self.metrics.source} feed gives no latency per operation, "
                                   "so the latency verdict stays inconclusive and the verdict gate of "
                                   f"{', '.join(wants[:3])} could never pass: set [verdict] latency = false")
        for name in self.metrics.queries:
            if name not in component_ids:
                raise PlanRefError(f"metrics.queries.{name}", f"unknown component '{name}'")

        items, roles = self.checklist, self.signoffs
        sections = {i.section for i in items}
        _known("checklist", "depends_on", [i.depends_on for i in items], {i.id for i in items}, "item")
        _known("checklist", "requires_validators", [i.requires_validators for i in items],
               {v.id for v in self.validators}, "validator")
        _acyclic("checklist", "depends_on", [(i.id, i.depends_on) for i in items], "dependency cycle")
        _known("signoffs", "requires_sections", [r.requires_sections for r in roles], sections, "section")
        _known("signoffs", "requires_roles", [r.requires_roles for r in roles], {r.role for r in roles}, "role")
        for n, role in enumerate(roles):
            if role.role in role.requires_roles:
                raise PlanRefError(f"signoffs[{n}].requires_roles", "a role cannot require itself")
        _acyclic("signoffs", "requires_roles", [(r.role, r.requires_roles) for r in roles], "role cycle")
        if self.access is not None:
            for role in self.access.sign:
                if role not in {r.role for r in roles}:
                    raise PlanRefError(f"access.sign.{role}", f"unknown role '{role}'")
        return self

    # ---- lookups used everywhere -------------------------------------------------
    def component(self, component_id: str) -> Component:
        return self._components_by_id[component_id]

    def checklist_item(self, item_id: str) -> ChecklistItem:
        return self._items_by_id[item_id]

    # By id, built on first use: a plan of 400 components looks one up for every row it draws.
    @cached_property
    def _components_by_id(self) -> dict[str, Component]:
        return {c.id: c for c in self.components}

    @cached_property
    def _items_by_id(self) -> dict[str, ChecklistItem]:
        return {i.id: i for i in self.checklist}

    def stage_index(self, name: str) -> int:
        for n, s in enumerate(self.stages):
            if s.name == name:
                return n
        raise KeyError(name)

    def gate_for(self, component_id: str) -> Gate:
        over = self.component(component_id).gate.model_dump(exclude_none=True)
        return self.gate.model_copy(update=over)


class PlanRefError(ValueError):
    """A cross-reference error that knows its own key path."""

    def __init__(self, path: str, message: str):
        super().__init__(message)
        self.path = path
        self.message = message


def _unique(values: list[str], what: str, where: str, field: str = "id") -> None:
    seen: set[str] = set()
    for n, v in enumerate(values):
        if v in seen:
            raise PlanRefError(f"{where}[{n}].{field}", f"duplicate {what} '{v}'")
        seen.add(v)


def _known(where: str, field: str, refs: list[list[str]], known: set[str], what: str) -> None:
    for n, names in enumerate(refs):
        for name in names:
            if name not in known:
                raise PlanRefError(f"{where}[{n}].{field}", f"unknown {what} '{name}'")


def _acyclic(where: str, field: str, nodes: list[tuple[str, list[str]]], what: str) -> None:
    cycle = _find_cycle(dict(nodes))
    if cycle:
        n = next(k for k, (name, _) in enumerate(nodes) if name == cycle[0])
        raise PlanRefError(f"{where}[{n}].{field}", f"{what} " + " -> ".join(cycle))


def _find_cycle(graph: dict[str, list[str]]) -> list[str] | None:
    """Return one cycle as a path (first node repeated at the end), or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, []):
            if state.get(nxt) == 1:
                return stack[stack.index(nxt):] + [nxt]
            if nxt not in state:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None

