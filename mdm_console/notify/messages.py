"""Which events a `[[notify]]` target hears, and the message each one becomes.

A message is built from the event alone (its payload, its actor, its time) and the plan: it carries the
state at the event's seq, never a later or an earlier one (a notification with a stale status is worse than
none). Every string is made visible text (no escape sequences) and secrets are masked.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import get_args

from mdm_console.plan.models import NotifyTopic
from mdm_console.store.chain import Event
from mdm_console.textsafe import visible
from mdm_console.redact import redact_text

TOPICS = frozenset(get_args(NotifyTopic))  # what a target may ask for in `events` (docs/notifications.md)
LEVELS = {"info": 0, "warning": 1, "error": 2, "critical": 3}
SILENT = ("notify.",)  # deliveries are recorded as events: they never notify themselves


@dataclass(frozen=True)
class Message:
    topic: str
    key: str  # what repeats collapse on (an alert's id and level; else the event's own seq)
    title: str
    body: str
    severity: str  # info | success | warning | failure (Apprise's notify types)
    seq: int


def topics_of(ev: Event) -> list[str]:
    """The topics an event belongs to (most events have one; an automatic rollback's start has two)."""
    kind, p = ev.kind, ev.payload
    if kind.startswith(SILENT):
        return []
    if kind == "alert.raised":
        return ["feed.stale", "alert.raised"] if str(p.get("alert", "")).startswith("feed_stale:") else ["alert.raised"]
    if kind == "rollback.started" and p.get("automatic"):
        return ["rollback.started", "auto_rollback"]
    if kind == "rollback.proposed":
        return ["auto_rollback"]
    if kind == "session.started":
        return []  # open intents are announced by the notifier when it starts (intent.unfinished)
    if kind == "validation.finished":
        return ["validation.failed"] if not p.get("ok", True) else []
    if kind == "verdict.changed":
        return ["verdict.regression"] if p.get("verdict") == "regression" else []
    return [kind] if kind in TOPICS else []


def _who(ev: Event) -> str:
    a = ev.actor
    return f"{a.operator} ({a.os_user}@{a.host})"


def _clean(text: str) -> str:
    return visible(redact_text(str(text)))


def build(ev: Event, topic: str, cutover: str) -> Message:
    """The message for one event and topic: title, then `field: value` lines a person (or a webhook) reads."""
    p = ev.payload
    comp = ev.component or p.get("component")
    lines: list[tuple[str, object]] = []
    severity, key = "info", f"seq:{ev.seq}"
    if topic in ("alert.raised", "feed.stale", "alert.cleared"):
        level = p.get("level", "cleared" if topic == "alert.cleared" else "warning")
        severity = {"critical": "failure", "error": "failure", "warning": "warning"}.get(level, "info")
        if topic == "alert.cleared":
            severity = "success"
        title = f"{'CLEARED' if topic == 'alert.cleared' else level.upper()}: {p.get('alert')}"
        key = f"alert:{p.get('alert')}:{level}"
        lines += [("message", p.get("message", "")), ("value", p.get("value")), ("threshold", p.get("threshold"))]
    elif topic == "stage.changed":
        title = f"{comp}: {p.get('from')} -> {p.get('to')} ({p.get('to_percent', 0):g} %)"
        severity = "warning" if p.get("rollback") else "info"
        gates = p.get("gates") or []
        lines += [("how", p.get("how")), ("why", p.get("reason") or "-"), ("override", p.get("override")),
                  ("gates", "; ".join(f"{g['name']} {'ok' if g['ok'] else 'FAIL'} ({g['reason']})" for g in gates)
                   if gates else None)]
    elif topic in ("rollback.started", "auto_rollback") and ev.kind == "rollback.started":
        auto = " by the policy" if p.get("automatic") else ""
        title = f"ROLLBACK started{auto}: {p.get('kind')} {comp or ''}".rstrip()
        severity = "failure" if p.get("automatic") else "warning"
        changes = "; ".join(f"{c.get('component')} {c.get('from')} -> {c.get('to')} ({c.get('to_percent', 0):g} %)"
                            for c in p.get("changes", []))
        lines += [("why", p.get("reason") or "-"), ("changes", changes or None), ("present", p.get("present"))]
    elif topic == "auto_rollback":  # rollback.proposed
        again = f", proposed again ({p['repeat']})" if p.get("repeat") else ""
        title = f"ROLLBACK proposed by the policy ({p.get('mode')}{again}): {comp}"
        severity = "failure"
        lines += [("why", p.get("reason")), ("criterion", p.get("criterion")),
                  ("answer", f"mdm-console proposal accept|decline {comp}" if p.get("mode") == "prompt" else None)]
    elif topic == "rollback.finished":
        title = f"ROLLBACK finished: {p.get('kind')} {comp or ''} in {p.get('elapsed_s', 0):.2f} s".rstrip()
        severity = "success" if p.get("within_target") and p.get("verified") is not False else "warning"
        verification = ("none: no verification validators in the plan" if p.get("verification") is None else
                        "passed" if p.get("verified") else "FAILED")
        lines += [("target", f"{p.get('target_s')} s ({'met' if p.get('within_target') else 'MISSED'})"),
                  ("verification", verification), ("why", p.get("reason") or "-")]
    elif topic == "signoff.recorded":
        title = f"Signed off: {p.get('role')} by {p.get('name')}"
        severity = "success"
        lines += [("comment", p.get("comment") or None), ("state sha256", p.get("state_hash"))]
    elif topic == "validation.failed":
        title = f"Validation {p.get('phase')}: CRITICAL FAILURE"
        severity = "failure"
        lines += [("counts", p.get("counts")), ("stopped", p.get("stopped"))]
    elif topic == "verdict.regression":
        title = f"{comp}: canary verdict REGRESSION"
        severity = "failure"
        lines += [("verdict", p.get("text")), ("stage", p.get("stage"))]
    elif topic == "intent.unfinished":
        title = f"Unfinished change: intent {p.get('intent')}"
        severity = "failure"
        lines += [("action", p.get("action")), ("what to do", "reconcile it (mdm-console reconcile)")]
    else:
        title = f"{ev.kind} {comp or ''}".rstrip()
    head = [("cutover", cutover), ("component", comp), ("who", _who(ev)),
            ("when", ev.ts.strftime("%Y-%m-%d %H:%M:%S UTC")), ("event seq", ev.seq)]
    body = "\n".join(f"{name}: {_clean(value)}" for name, value in head + lines if value not in (None, ""))
    return Message(topic, key, _clean(title), body, severity, ev.seq)
