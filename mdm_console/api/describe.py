"""An event of the session log in words: who, what, why, when (the console's details pane and `mdm-console log`).

Every value comes from the event itself and is returned as plain text; callers escape it for their medium.
Nothing here knows the console or the terminal.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

from mdm_console.api.models import WireEvent


def _pct(v: Any) -> str:
    return f"{v:g} %" if isinstance(v, (int, float)) else "?"


def _stage(p: dict[str, Any]) -> str:
    if "from" in p and "to" in p:
        out = f"{p['from']} -> {p['to']}"
        if "from_percent" in p or "to_percent" in p:
            out += f" ({_pct(p.get('from_percent'))} -> {_pct(p.get('to_percent'))})"
        return out
    return ""


def _figure(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    return "n/a" if v is None else str(v)


def gate_line(g: dict[str, Any]) -> str:
    """One gate as a person reads it: `FAIL error_rate 2.1 (must be <= 1): reason`."""
    verdict = "ok" if g.get("ok") else "FAIL"
    figure = ("" if g.get("value") is None else
              f" {_figure(g.get('value'))} (must be {g.get('comparison', '')} {_figure(g.get('threshold'))})")
    reason = f": {g['reason']}" if g.get("reason") else ""
    return f"{verdict} {g.get('name', '?')}{figure}{reason}"


def _rollback_target(p: dict[str, Any]) -> str:
    kind = p.get("kind", "")
    if kind == "component":
        return f"component {p.get('component') or '?'} back to {p.get('to_stage') or 'its previous stage'}"
    if kind == "full":
        return "every component back to " + (f"point {p['point']}" if p.get("point") else "the start")
    if kind == "flags":
        return "the flag file back to " + (f"point {p['point']}" if p.get("point") else "the newest point")
    if kind == "config":
        return "the plan's files back to " + (f"point {p['point']}" if p.get("point") else "the newest point")
    return kind


SUMMARY: dict[str, Callable[[dict[str, Any]], str]] = {
    "session.started": lambda p: f"{p.get('mode', '')} session started on {p.get('plan_name', '')}",
    "plan.changed": lambda p: f"the plan changed: {p.get('plan_path', '')}",
    "checkpoint": lambda p: f"state checkpoint at seq {p.get('at_seq')}",
    "stage.changed": lambda p: f"{p.get('component', '')} {_stage(p)}"
                               + (f" ({p['how']})" if p.get("how") else ""),
    "advance.refused": lambda p: f"{_stage(p)} refused: " + "; ".join(
        gate_line(g) for g in p.get("failing", [])),
    "gate.override": lambda p: f"{_stage(p)} overriding {len(p.get('failing', []))} failing gate(s)",
    "auto_advance.set": lambda p: f"auto-advance {'on' if p.get('enabled') else 'paused'}",
    "intent": lambda p: f"intent {p.get('action', '')} ({p.get('intent', '')[:8]})",
    "intent.done": lambda p: f"intent {p.get('intent', '')[:8]} {p.get('resolution', '')}",
    "flags.written": lambda p: f"flag file written, sha256 {p.get('sha256', '')[:12]}",
    "flags.adopted": lambda p: f"flag file adopted as found, sha256 {p.get('sha256', '')[:12]}",
    "file.restored": lambda p: f"{p.get('label', '')} restored: {p.get('path', '')}",
    "point.created": lambda p: f"rollback point {p.get('id', '')} ({p.get('label', '')})",
    "rollback.proposed": lambda p: ("rollback proposed" + (f" again ({p['repeat']})" if p.get("repeat") else "")
                                    + f": {p.get('reason', '')}"),
    "proposal.answered": lambda p: f"proposed rollback (seq {p.get('answers')}) {p.get('answer', '')}: "
                                   f"{p.get('reason', '')}",
    "alert.acknowledged": lambda p: f"{p.get('alert', '')} acknowledged: {p.get('note', '')}",
    "rollback.started": lambda p: f"rollback started: {_rollback_target(p)}",
    "rollback.failed": lambda p: f"ROLLBACK FAILED: {_rollback_target(p)}: {p.get('error', '')}",
    "rollback.finished": lambda p: f"rollback done in {_figure(p.get('elapsed_s'))} s: {_rollback_target(p)}",
    "rollback.refused": lambda p: f"rollback refused: {p.get('error', '')}",
    "validation.started": lambda p: f"{p.get('phase', '')} validation started "
                                    f"({len(p.get('validators', []))} check(s))",
    "validator.result": lambda p: f"{p.get('id', '')} {p.get('status', '')}: {p.get('detail', '')}",
    "validation.finished": lambda p: f"{p.get('phase', '')} validation {'passed' if p.get('ok') else 'FAILED'} "
                                     + ", ".join(f"{k} {v}" for k, v in sorted(p.get("counts", {}).items())),
    "alert.raised": lambda p: f"{p.get('level', '')}: {p.get('message', '')}",
    "alert.cleared": lambda p: f"cleared: {p.get('message', '')}",
    "checklist.status": lambda p: f"{p.get('item', '')} {p.get('previous') or 'pending'} -> {p.get('status', '')}",
    "checklist.note": lambda p: f"{p.get('item', '')}: {p.get('text', '')}",
    "checklist.refused": lambda p: f"{p.get('action', '')} {p.get('item', '')} refused: "
                                   + "; ".join(p.get("reasons", [])),
    "signoff.recorded": lambda p: f"{p.get('role', '')} signed by {p.get('name', '')}",
    "signoff.refused": lambda p: f"{p.get('role', '')} sign-off refused: " + "; ".join(p.get("reasons", [])),
    "verdict.changed": lambda p: f"verdict {p.get('verdict', '')}: {p.get('text', '')}",
    "access.refused": lambda p: f"{p.get('action', '')} refused to uid {p.get('uid')}: {p.get('reason', '')}",
    "notify.sent": lambda p: f"sent seq {p.get('seq')} to {p.get('target', '')}",
    "notify.failed": lambda p: f"delivery of seq {p.get('seq')} to {p.get('target', '')} failed: "
                               f"{p.get('error', '')}",
}


def summary(ev: WireEvent) -> str:
    """One line for a table or a terminal."""
    fn = SUMMARY.get(ev.kind)
    if fn is not None:
        try:
            return fn(ev.payload)
        except (TypeError, AttributeError, KeyError):  # a payload of an older version: say it as data
            pass
    return ", ".join(f"{k}={_figure(v) if not isinstance(v, (dict, list)) else '…'}"
                     for k, v in sorted(ev.payload.items()))


def _files(p: dict[str, Any]) -> list[str]:
    out = []
    for f in p.get("files") or []:
        if isinstance(f, dict):
            out.append(f"{f.get('label') or f.get('path', '?')}: {f.get('path', '')} sha256 "
                       f"{f.get('sha256') or '(missing)'}")
    if p.get("sha256") and p.get("kind") is None:
        out.append(f"{p.get('path') or 'flag file'} sha256 {p['sha256']}")
    return out


def _what(ev: WireEvent) -> list[str]:
    p = ev.payload
    lines = [summary(ev)]
    if ev.component:
        lines.append(f"component: {ev.component}")
    stage = _stage(p)
    if stage:
        lines.append(f"stage: {stage}")
    if p.get("kind") in ("full", "component", "flags", "config"):
        lines.append(f"rollback: {_rollback_target(p)}")
    for c in p.get("changes") or []:
        if isinstance(c, dict) and "component" in c:
            lines.append(f"change: {c['component']} {_stage(c) or c}")
    lines.extend(f"file: {f}" for f in _files(p))
    for key in ("item", "status", "role", "name", "alert", "level", "value", "threshold", "verdict", "id",
                "detail", "elapsed_s", "target_s", "within_target", "verified", "point", "label"):
        if key in p and p[key] not in (None, "", [], {}):
            lines.append(f"{key.replace('_', ' ')}: {_figure(p[key])}")
    return lines


def _why(ev: WireEvent) -> list[str]:
    p = ev.payload
    lines = []
    for key, label in (("reason", "reason"), ("override", "override"), ("criterion", "criterion"),
                       ("held_reason", "held because"), ("error", "error"), ("comment", "comment"),
                       ("text", "note"), ("message", "message")):
        if p.get(key):
            lines.append(f"{label}: {p[key]}")
    for r in p.get("reasons") or []:
        lines.append(f"refused: {r}")
    for w in p.get("warnings") or []:
        lines.append(f"warning: {w}")
    gates = p.get("failing")
    if gates is None and isinstance(p.get("gates"), list):
        gates = p["gates"]
    elif gates is None and isinstance(p.get("gates"), dict):  # an intent: gates per component
        gates = [g for gs in p["gates"].values() for g in gs]
    for g in gates or []:
        if isinstance(g, dict):
            lines.append(f"gate: {gate_line(g)}")
    return lines


def sections(ev: WireEvent) -> list[tuple[str, list[str]]]:
    """The event in words: (heading, lines) for who, what, why and when; empty sections left out."""
    who = [f"typed name: {ev.operator}", f"OS user: {ev.os_user}", f"host: {ev.host}"]
    if ev.payload.get("present"):
        who.append(f"operator present: {ev.payload['present']}")
    when = [f"{ev.ts.isoformat(timespec='milliseconds')}", f"seq {ev.seq}, hash {ev.hash}",
            f"previous hash {ev.prev_hash}"]
    out = [("what", _what(ev)), ("why", _why(ev)), ("who", who), ("when", when)]
    return [(h, lines) for h, lines in out if lines]


def raw(ev: WireEvent) -> str:
    return json.dumps(ev.model_dump(mode="json"), indent=2, ensure_ascii=False, sort_keys=True)


def words(ev: WireEvent) -> str:
    """The sections as plain text (the CLI's `log --details`, tests)."""
    return "\n".join(f"{h}:\n" + "\n".join(f"  {line}" for line in lines) for h, lines in sections(ev))
