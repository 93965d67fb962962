"""The plan's JSON Schema (from the pydantic models) and docs/plan.md, which is generated from it
(`python docs/plan.py`; a test fails when the file and the models disagree)."""

from __future__ import annotations

import json
from typing import Any

SCHEMA_FILE = "mdm-plan.schema.json"  # written by `init` beside the plan; its `#:schema` line points here


# What every key means ("Model.key"): shown by editors on hover (the schema's descriptions) and in docs/plan.md.
# A test fails when a key of the models has no meaning here, so a new key cannot go undocumented.
MEANING = {
    "Plan.version": "the plan format's version; 1",
    "Plan.cutover": "the cutover: its name, the files it owns, its window",
    "Plan.gate": "the gates every component must pass to leave a stage (a component's own `gate` overrides them)",
    "Plan.stages": "the rollout ladder, first stage at 0 %; define the whole ladder or none (default: testing 0, "
                   "canary 5, early_adopters 25, general_availability 50, full_rollout 100, complete 100)",
    "Plan.components": "the components of the migrated system, each behind one feature flag",
    "Plan.metrics": "where the live figures come from (a JSONL file, a Prometheus endpoint, PromQL queries)",
    "Plan.alerts": "alert levels and the auto-rollback policy",
    "Plan.verdict": "the canary verdict's statistics (new path against old path)",
    "Plan.notify": "notification targets (any Apprise URL) and what each hears",
    "Plan.validators": "readiness checks, run in parallel batches ordered by risk",
    "Plan.checklist": "the checklist items, by section",
    "Plan.signoffs": "the sign-off roles and what each requires",
    "Plan.access": "who may do what through the session's socket (by OS user or group)",
    "Access.group": "the socket is 0660 with this group (default 0600: only the session's own OS user connects)",
    "Access.operate": "who may advance, step back, pause/resume, roll back, validate, reconcile, take points",
    "Access.complete": "who may complete, fail, reopen and note checklist items",
    "Access.sign": "per role, who may sign it",
    "Access.observe": "who may only read (status, checklist, the live log, export, verify)",
    "Access.one_os_user_for_rehearsal": "let one OS user sign several roles (a rehearsal); every such signature says so",
    "Alerts.error_rate": "error rate levels (a ratio) for each path of each component",
    "Alerts.latency_p99_ms": "p99 latency levels in milliseconds",
    "Alerts.success_rate": "success rate levels (alerts when below)",
    "Alerts.memory_percent": "the host's memory levels; the host is judged only when set",
    "Alerts.cpu_percent": "the host's CPU levels; the host is judged only when set",
    "Alerts.auto_rollback": "the auto-rollback policy",
    "AutoRollback.mode": "off; prompt (open the rollback wizard, filled in); auto (roll back, recorded as the policy's)",
    "AutoRollback.error_rate_above": "roll back when the new path's error rate is above this",
    "AutoRollback.success_rate_below": "or when the new path's success rate is below this (off unless set)",
    "AutoRollback.for_seconds": "for at least this long (each criterion has its own clock)",
    "AutoRollback.latency": "judge latency at all (false: only the error, success and verdict criteria)",
    "AutoRollback.degradation_above": "or when the new path's p99 is slower than the old path's by more than this "
                                      "share (the new p99's lower bound against the old p99's upper bound)",
    "AutoRollback.min_increase_ms": "and by at least this many milliseconds (a floor: 4 ms against 3 ms is no fault)",
    "AutoRollback.min_operations": "operations each path a criterion reads must have in the window before it holds",
    "AutoRollback.repropose_seconds": "prompt mode: an unanswered proposal whose criterion still holds is made "
                                      "(and notified) again this often",
    "AutoRollback.window_seconds": "the span the policy judges over (shorter than the dashboard's window: faster)",
    "AutoRollback.on_regression": "also roll back when the canary verdict says regression",
    "ChecklistItem.id": "the item's id (used by depends_on, the CLI, the log)",
    "ChecklistItem.section": "the section it belongs to (sign-off roles require sections)",
    "ChecklistItem.title": "what must be done",
    "ChecklistItem.critical": "a role that requires this section cannot sign while it is not completed",
    "ChecklistItem.depends_on": "items that must be completed first",
    "ChecklistItem.requires_validators": "validators that must have a passed result in this session first",
    "ChecklistItem.description": "more words for the people doing it",
    "ChecklistItem.evidence": "facts of the session log the item states: it cannot be completed while the log "
                              "contradicts them",
    "Evidence.no_events": "event kinds that must not be in the log (e.g. rollback.finished); kind:level for "
                          "alerts (alert.raised:critical)",
    "Evidence.no_active_alerts": "alert levels of which none may be active now (warning, error, critical)",
    "Evidence.within_minutes": "how far back no_events looks (default: the whole session)",
    "Evidence.min_percent": "every component must be rolled out to at least this percent",
    "Component.id": "the component's id (used everywhere: CLI, metrics lines, the log)",
    "Component.title": "a readable name",
    "Component.flag_key": "its feature flag's key in the flag file",
    "Component.gate": "gate values for this component only",
    "Cutover.name": "shown in the header and the report",
    "Cutover.flag_file": "the flagd flag file the console owns (applications read it)",
    "Cutover.session_db": "the session log (DuckDB); default session.duckdb next to the plan",
    "Cutover.snapshot_files": "config files captured in every rollback point and restored by full and config rollbacks",
    "Cutover.rollback_target_seconds": "a rollback reports its elapsed time against this target",
    "Cutover.window_start": "the cutover window's start (with an offset such as Z); the header counts T-/T+",
    "Cutover.window_end": "the cutover window's end",
    "Gate.min_success_rate": "the new path's success rate since the stage began must be at least this",
    "Gate.max_error_rate": "the new path's error rate since the stage began must be at most this",
    "Gate.min_operations": "operations observed on the new path in this stage, at least",
    "Gate.min_stage_seconds": "time in the stage, at least",
    "Gate.auto_advance": "advance by itself when every gate holds (never while a warning or critical alert of the "
                         "component is active)",
    "Gate.no_critical_alerts": "a gate: no critical alert of the component is active",
    "Gate.no_regression": "a gate: the canary verdict is not 'regression'",
    "Gate.verdict": "also require the canary verdict 'no regression detected'",
    "Gate.require_reason": "a person's advance must give a reason (recorded with the stage change)",
    "GateOverride.require_reason": "overrides gate.require_reason for this component",
    "GateOverride.min_success_rate": "overrides gate.min_success_rate for this component",
    "GateOverride.max_error_rate": "overrides gate.max_error_rate for this component",
    "GateOverride.min_operations": "overrides gate.min_operations for this component",
    "GateOverride.min_stage_seconds": "overrides gate.min_stage_seconds for this component",
    "GateOverride.auto_advance": "overrides gate.auto_advance for this component",
    "GateOverride.no_critical_alerts": "overrides gate.no_critical_alerts for this component",
    "GateOverride.no_regression": "overrides gate.no_regression for this component",
    "GateOverride.verdict": "overrides gate.verdict for this component",
    "Levels.warning": "raise a warning beyond this",
    "Levels.critical": "raise a critical alert beyond this",
    "Levels.for_seconds": "a level must hold this long before the alert is raised (or stepped), and the value must "
                          "stay back past the clear level this long before it clears: no flapping",
    "Levels.clear": "the level the value must come back past for the alert to clear (default: 10 % of the "
                    "warning-critical band back from warning)",
    "Metrics.source": "jsonl, prometheus, promql or none",
    "Metrics.path": "jsonl: the metrics file (tailed, rotation-safe)",
    "Metrics.url": "prometheus: the /metrics URL to scrape; promql: the Prometheus server",
    "Metrics.prefix": "prometheus: the metric names' prefix (<prefix>_operations_total ...)",
    "Metrics.interval_seconds": "how often the feed is read; a feed silent for 3 intervals is stale",
    "Metrics.window_seconds": "the span the dashboard's figures and the alerts cover",
    "Metrics.queries": "promql: per component, the queries for operations rate, error rate and p99",
    "NotifyTarget.name": "the target's name (notify-test --to NAME, the delivery records)",
    "NotifyTarget.url": "an Apprise URL (secrets in it are masked everywhere)",
    "NotifyTarget.url_env": "or the name of an environment variable holding the URL",
    "NotifyTarget.events": "the topics it hears",
    "NotifyTarget.min_level": "alerts below this level are not sent",
    "NotifyTarget.min_interval_seconds": "repeats of one alert within this collapse into one message",
    "NotifyTarget.send_clears": "also send when an alert clears",
    "NotifyTarget.timeout_seconds": "per delivery attempt",
    "NotifyTarget.retries": "attempts after the first one fails",
    "PromQLQueries.operations_rate": "operations per second (one series); $variant is replaced by new and old",
    "PromQLQueries.error_rate": "the error ratio 0..1 (one series)",
    "PromQLQueries.latency_p99_ms": "p99 latency in milliseconds (one series)",
    "SignoffRole.role": "the role's name",
    "SignoffRole.requires_sections": "sections whose critical items must be completed",
    "SignoffRole.requires_roles": "roles that must have signed the current state first",
    "Stage.name": "the stage's name",
    "Stage.percent": "the share of traffic on the new path at this stage",
    "Validator.id": "the validator's id",
    "Validator.kind": "system, command, http, sql, compare, file, junit, flags or python (params below)",
    "Validator.title": "a readable name",
    "Validator.phases": "when it runs: preflight, post, rollback",
    "Validator.critical": "a critical failure stops the later batches and fails `validate`",
    "Validator.timeout_seconds": "killed (with every process it started) after this",
    "Validator.max_ms": "a performance baseline: a pass that took longer fails and says by how much (an sql check "
                        "judges its query's own time, executed and fetched; other kinds the whole check)",
    "Validator.batch": "a batch checkpoint; batches run in order of risk",
    "Validator.risk": "low, medium or high (orders the batches)",
    "Validator.params": "the kind's parameters (see the table of kinds in the README)",
    "Verdict.alpha": "the chance that equal paths are ever called a regression, however often it is read",
    "Verdict.min_operations": "operations per path before no regression detected",
    "Verdict.error_tolerance": "an error-rate increase (new - old) below this is not a regression",
    "Verdict.max_error_increase": "no regression detected: the new path's extra error rate is bounded below this",
    "Verdict.latency_tolerance": "the new path's latencies within this share of the old path's count as equal",
    "Verdict.latency_quantile": "the quantile the latency test compares (slower than the interval's pooled one)",
    "Verdict.latency": "judge latency too (needs latencies per operation on both paths)",
}


PARAM_MEANING = {
    "system.min_cpus": "at least this many CPUs", "system.min_memory_gb": "at least this much memory",
    "system.min_disk_free_gb": "at least this much free disk on disk_path",
    "system.max_load_per_core": "the 1-minute load average per logical CPU, at most (what a readiness check judges: "
    "sustained load, not one busy half second)", "system.disk_path":
    "the disk to check (default: the plan's directory)", "system.max_cpu_percent": "the host's CPU in use over half a second (psutil), "
    "at most", "system.max_memory_percent": "memory in use, at most",
    "command.argv": "the program and its arguments (no shell)", "command.shell": "a shell command line (explicit)",
    "command.cwd": "the working directory", "command.env": "extra environment (secret-named values are masked)",
    "command.expect_exit": "the exit code that passes", "command.expect_stdout_regex": "stdout must match this",
    "http.url": "the URL to ask", "http.method": "GET, HEAD, POST ...", "http.headers": "request headers "
    "(secret-named values are masked)", "http.expect_status": "the status that passes",
    "http.expect_json": "{\"dotted.path\": value} equalities on the JSON answer",
    "sql.dsn": "duckdb:PATH or sqlite:PATH, opened read-only", "sql.query": "the query",
    "sql.expect_rows": "the number of rows that passes", "sql.expect_scalar": "the first value must equal this",
    "sql.expect_scalar_min": "the first value must be at least this", "sql.expect_scalar_max":
    "the first value must be at most this",
    "compare.v1_dsn": "the old system's data (duckdb:PATH or sqlite:PATH)", "compare.v2_dsn": "the new system's data",
    "compare.query": "the query run on both", "compare.v1_query": "or a query for the old one",
    "compare.v2_query": "and one for the new one", "compare.key_columns": "the columns that pair rows up",
    "compare.tolerance": "{column: relative difference allowed}",
    "file.path": "the file", "file.must_exist": "fail when it is missing", "file.max_mode": "its mode at most "
    "this (e.g. \"0644\")", "file.parse": "json or toml: it must parse", "file.sha256": "its sha256 must be this",
    "junit.path": "a JUnit XML result file", "junit.min_tests": "at least this many tests in it",
    "python.callable": "\"pkg.mod:func\", run in a process of its own so a hang can be killed",
    "python.kwargs": "keyword arguments for it",
}


def schema() -> dict[str, Any]:
    from mdm_console import __version__
    from mdm_console.plan.models import Plan

    doc = Plan.model_json_schema(mode="validation")
    doc["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    doc["title"] = f"mdm-console plan (mdm-console {__version__})"
    for model, props in [("Plan", doc.get("properties", {}))] + [(n, d.get("properties", {}))
                                                                for n, d in doc.get("$defs", {}).items()]:
        for key, prop in props.items():
            meaning = MEANING.get(f"{model}.{key}")
            if meaning and not prop.get("description"):
                prop["description"] = meaning
    return doc


def undocumented() -> list[str]:
    """Keys of the models (and of every validator kind's params) with no meaning (a test keeps this empty)."""
    from mdm_console.plan.validator_params import VALIDATOR_PARAMS

    doc = schema()
    out = [f"Plan.{k}" for k, p in doc.get("properties", {}).items() if not p.get("description")]
    for n, d in doc.get("$defs", {}).items():
        out += [f"{n}.{k}" for k, p in d.get("properties", {}).items() if not p.get("description")]
    out += [f"{kind}.{k}" for kind, model in VALIDATOR_PARAMS.items() for k in model.model_fields
            if f"{kind}.{k}" not in PARAM_MEANING]
    return out


def schema_text() -> str:
    return json.dumps(schema(), indent=2) + "\n"


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        return f"table: {prop['$ref'].rsplit('/', 1)[1]}"
    if "anyOf" in prop:
        return " or ".join(_type(p) for p in prop["anyOf"])
    if "enum" in prop:
        return " \\| ".join(f"`{json.dumps(v)}`" for v in prop["enum"])
    if "const" in prop:
        return f"`{json.dumps(prop['const'])}`"
    t = prop.get("type", "any")
    if t == "array":
        return f"list of {_type(prop.get('items', {}))}"
    if t == "object":
        extra = prop.get("additionalProperties")
        return f"table of {_type(extra)}" if isinstance(extra, dict) else "table"
    fmt = prop.get("format")
    return {"string": "string", "integer": "integer", "number": "number", "boolean": "boolean",
            "null": "none"}.get(t, t) + (f" ({fmt})" if fmt else "")


def _limits(prop: dict[str, Any]) -> str:
    parts = []
    for key, word in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="), ("exclusiveMaximum", "<"),
                      ("minLength", "length >="), ("maxLength", "length <="), ("minItems", "items >=")):
        if key in prop:
            parts.append(f"{word} {prop[key]}")
    if "pattern" in prop:
        parts.append(f"matches `{prop['pattern']}`")
    for sub in prop.get("anyOf", []):
        lim = _limits(sub)
        if lim:
            parts.append(lim)
    return "; ".join(parts)


def markdown() -> str:
    """docs/plan.md: every table of the plan and every key, with its type, default, limits and meaning."""
    doc = schema()
    defs = doc.get("$defs", {})
    out = ["# The plan file", "",
           "Generated from the plan's models (`python docs/plan.py` rewrites it; a test fails when it is out of",
           "date). `mdm-console schema` prints the same as JSON Schema, and `mdm-console init` writes it beside the",
           f"example plan (`{SCHEMA_FILE}`) with a `#:schema` line at the top of the plan, which TOML editors",
           "(Taplo, Even Better TOML) use to check and complete the file as you type. Unknown keys are errors;",
           "paths are relative to the plan file.", ""]

    def section(title: str, model: dict[str, Any]) -> None:
        out.extend([f"## {title}", ""])
        if model.get("description"):
            out.extend([" ".join(model["description"].split()), ""])
        if not model.get("properties"):
            return
        required = set(model.get("required", []))
        out.extend(["| key | type | default | limits | meaning |", "|---|---|---|---|---|"])
        for key, prop in model.get("properties", {}).items():
            default = "required" if key in required else (f"`{json.dumps(prop['default'])}`" if "default" in prop
                                                          else "-")
            desc = " ".join((prop.get("description") or "").split())
            row = [f"`{key}`", _type(prop), default, _limits(prop), desc]
            out.append("| " + " | ".join(c.replace("|", "\\|") if n != 1 else c for n, c in enumerate(row)) + " |")
        out.append("")

    section("Plan (the file itself)", doc)
    for name in sorted(defs):
        section(name, defs[name])
    from mdm_console.plan.validator_params import VALIDATOR_PARAMS

    out.extend(["## Validator params, by kind", "",
                "Any kind may also set `max_ms` (on the validator, not in params): a performance baseline.", ""])
    for kind, model in VALIDATOR_PARAMS.items():
        props = model.model_json_schema().get("properties", {})
        for key, prop in props.items():
            prop["description"] = PARAM_MEANING.get(f"{kind}.{key}", "")
        section(f"params of `{kind}`", {"properties": props, "required": model.model_json_schema().get("required", [])}
                if props else {"description": "none: the flag file on disk must match the recorded stages"})
    return "\n".join(out)
