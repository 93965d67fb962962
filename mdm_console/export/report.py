"""The session report (Markdown or one self-contained HTML file): measured and recorded facts only.

Everything comes from the session store: the events (stage changes with who and why, gate
values and overrides, validator results, alerts, rollbacks, sign-offs), the projection of
them (checklist state), the stored metric aggregates (plots), and the chain verification.
"""

from __future__ import annotations

import html
import re
import json
from datetime import UTC, datetime
from typing import Any

from mdm_console.engine.phases import derive_phase
from mdm_console.engine.state import SessionState
from mdm_console.store.chain import event_from_body
from mdm_console.textsafe import visible
from mdm_console.redact import redact_text

KINDS = ("session.started", "plan.changed", "stage.changed", "gate.override", "advance.refused", "validator.result",
         "validation.finished", "alert.raised", "alert.cleared", "rollback.started", "rollback.finished",
         "rollback.refused", "rollback.proposed", "signoff.recorded", "signoff.refused", "effect.failed",
         "checklist.status", "point.created", "verdict.changed", "hold.released")
PHASE_KINDS = ("stage.changed", "validation.finished", "signoff.recorded")


MAX_ROWS = 1000  # per kind of event; the data exports hold them all


def _events_of(kinds: tuple[str, ...]):
    """The newest MAX_ROWS events of each kind (validator results: the newest of each validator)."""

    def run(con):
        marks = ", ".join("?" * len(kinds))
        rows = con.execute(
            f"SELECT body, prev_hash, hash FROM events WHERE kind IN ({marks}) AND kind <> 'validator.result' "
            f"QUALIFY row_number() OVER (PARTITION BY kind ORDER BY seq DESC) <= {MAX_ROWS} "
            "UNION ALL SELECT body, prev_hash, hash FROM events WHERE kind = 'validator.result' "
            "QUALIFY row_number() OVER (PARTITION BY body->>'$.payload.id' ORDER BY seq DESC) = 1",
            list(kinds)).fetchall()
        events = [event_from_body(b, p, h) for b, p, h in rows]
        return sorted(events, key=lambda ev: ev.seq)

    return run


def _counts(con):
    return con.execute("SELECT kind, count(*) FROM events GROUP BY kind ORDER BY 2 DESC").fetchall(), \
        con.execute("SELECT min(ts), max(ts), count(*) FROM events").fetchone(), \
        con.execute("SELECT DISTINCT operator, body->>'$.os_user', body->>'$.host' FROM events ORDER BY 1").fetchall()


def _series(con):
    return con.execute("SELECT component, variant, start, sum(ops), sum(error), max(p99_ms) FROM metrics "
                       "GROUP BY component, variant, start ORDER BY component, variant, start").fetchall()


async def collect(engine) -> dict[str, Any]:
    store = engine.store
    events = await store.acall(_events_of(KINDS))
    by_kind: dict[str, list] = {}
    for ev in events:
        by_kind.setdefault(ev.kind, []).append(ev)
    counts, span, actors = await store.acall(_counts)
    series = await store.acall(_series)
    verify = await engine.chain_status()
    # Phase times: replay only the events a phase depends on.
    state = SessionState.initial(engine.plan)
    phases: list[tuple[str, str]] = [("preparation", span[0].isoformat() if span[0] else "")]
    for ev in (e for e in events if e.kind in PHASE_KINDS):
        state.apply(ev)
        p = derive_phase(engine.plan, state)
        if p != phases[-1][0]:
            phases.append((p, ev.ts.isoformat()))
    return {
        "plan": engine.plan, "loaded": engine.loaded, "by_kind": by_kind, "counts": counts, "span": span,
        "actors": actors, "series": series, "verify": verify, "phases": phases,
        "checklist": engine.checklist.items(), "signoffs": engine.checklist.signoffs(),
        "state_hash": engine.checklist.state_hash(), "generated": engine.now().isoformat(),
        "notify": dict(engine.state.notify),
    }


# ---- Markdown ------------------------------------------------------------------------------------
def _t(ev) -> str:
    return ev.ts.strftime("%Y-%m-%d %H:%M:%S")


def _who(ev) -> str:
    return f"{ev.actor.operator} ({ev.actor.os_user}@{ev.actor.host})"


def sections(f: dict[str, Any]) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) tables shared by the Markdown and HTML renderings; every cell is text."""
    k = f["by_kind"]
    totals = dict(f["counts"])
    plan = f["plan"]
    out = []
    started = k.get("session.started", [])
    shas = sorted({e.payload.get("plan_sha256", "") for e in started} | {e.payload.get("new_sha256", "")
                                                                         for e in k.get("plan.changed", [])} - {""})
    out.append(("Session", ["fact", "value"], [
        ["plan", plan.cutover.name], ["plan file", str(f["loaded"].path)],
        ["plan sha256 (recorded)", ", ".join(shas) or "-"],
        ["window", f"{plan.cutover.window_start or '-'} to {plan.cutover.window_end or '-'}"],
        ["first event", str(f["span"][0] or "-")], ["last event", str(f["span"][1] or "-")],
        ["events", str(f["span"][2])], ["sessions started", str(len(started))],
        ["operators", "; ".join(f"{o} ({u}@{h})" for o, u, h in f["actors"])],
    ]))
    out.append(("Phases", ["phase", "from"], [[p, t[:19]] for p, t in f["phases"]]))
    rows = []
    for ev in k.get("stage.changed", []):
        p = ev.payload
        gates = "; ".join(f"{g['name']} {'ok' if g['ok'] else 'FAIL'} ({g['reason']})" for g in p.get("gates", []))
        rows.append([_t(ev), ev.component or "", f"{p['from']} -> {p['to']} ({p['to_percent']:g} %)",
                     p.get("how") or "", _who(ev), p.get("reason") or "", p.get("override") or "", gates])
    out.append(("Stage timeline", ["time (UTC)", "component", "change", "how", "who", "why", "override", "gates"],
                rows))
    out.append(("Gate overrides", ["time (UTC)", "component", "step", "who", "reason", "failing gates"], [
        [_t(ev), ev.component or "", f"{ev.payload['from']} -> {ev.payload['to']}", _who(ev), ev.payload["reason"],
         "; ".join(f"{g['name']}: {g['reason']}" for g in ev.payload["failing"])]
        for ev in k.get("gate.override", [])]))
    out.append(("Validation runs", ["finished (UTC)", "phase", "result", "counts", "duration", "stopped"], [
        [_t(ev), ev.payload["phase"] + (" (selected)" if ev.payload.get("only") else ""),
         "ok" if ev.payload["ok"] else "CRITICAL FAILURE", json.dumps(ev.payload["counts"]),
         f"{ev.payload['duration_ms'] / 1000:.2f} s", ev.payload.get("stopped") or ""]
        for ev in k.get("validation.finished", [])]))
    last: dict[str, Any] = {}
    for ev in k.get("validator.result", []):
        last[ev.payload["id"]] = ev
    out.append(("Validator results (latest of each)", ["validator", "kind", "status", "duration", "time (UTC)",
                                                       "detail"], [
        [vid, ev.payload["kind"], ev.payload["status"],
         "-" if ev.payload.get("duration_ms") is None else f"{ev.payload['duration_ms']:.1f} ms", _t(ev),
         ev.payload.get("detail", "")] for vid, ev in sorted(last.items())]))
    out.append(("Alerts", ["time (UTC)", "alert", "event", "level", "message"], [
        [_t(ev), ev.payload["alert"], "raised" if ev.kind == "alert.raised" else "cleared",
         ev.payload.get("level", ""), ev.payload.get("message", "")]
        for ev in sorted(k.get("alert.raised", []) + k.get("alert.cleared", []), key=lambda e: e.seq)]))
    out.append(("Rollbacks", ["time (UTC)", "kind", "component", "point", "who", "automatic", "elapsed",
                              "target", "verification", "reason"], [
        [_t(ev), p["kind"], p.get("component") or "", p.get("point") or "", _who(ev),
         "yes" if p.get("automatic") else "no", f"{p['elapsed_s']:.2f} s", f"{p['target_s']:g} s "
         + ("(met)" if p["within_target"] else "(MISSED)"),
         "none: no verification validators in the plan" if p.get("verification") is None else "passed"
         if p["verified"] else f"FAILED: {', '.join(p['verification'].get('failures', []))}",
         p.get("reason") or ""]
        for ev in k.get("rollback.finished", []) for p in [ev.payload]]))
    out.append(("Canary verdicts (new path against old; each change)", ["time (UTC)", "component", "stage",
                                                                        "verdict", "error rate (new - old)",
                                                                        "latency (p50 shift)"], [
        [_t(ev), ev.component or "", p.get("stage", ""), p["verdict"], _errors_text(p.get("errors")),
         _latency_text(p.get("latency"))]
        for ev in k.get("verdict.changed", []) for p in [ev.payload]]))
    out.append(("Notifications (deliveries to the plan's [[notify]] targets)",
                ["target", "sent", "failed", "last error"], [
        [name, str(t["sent"]), str(t["failed"]), t.get("last_error") or ""]
        for name, t in sorted(f.get("notify", {}).items())]))
    out.append(("Checklist", ["section", "item", "status", "critical", "by", "note / reason"], [
        [i.section, f"{i.id}: {i.title}", i.status, "yes" if i.critical else "", i.by or "",
         i.reason or ("; ".join(i.why_not) if i.status != "completed" else "")] for i in f["checklist"]]))
    out.append(("Sign-offs", ["role", "signed by", "time (UTC)", "state sha256", "state now"], [
        [s.role, s.name or "-", (s.ts or "")[:19], s.state_hash or "-",
         "current" if s.current else ("SIGNED AN EARLIER STATE; changed: " + ", ".join(s.changed_since))
         if s.signed else "not signed"] for s in f["signoffs"]]))
    out.append(("Event counts", ["kind", "events"], [[kind, str(n)] for kind, n in f["counts"]]))
    shown = {"Alerts": ("alert.raised", "alert.cleared"), "Stage timeline": ("stage.changed",),
             "Gate overrides": ("gate.override",), "Validation runs": ("validation.finished",),
             "Rollbacks": ("rollback.finished",)}
    titled = []
    for title, header, rows in out:
        cut = sum(max(0, totals.get(kind, 0) - MAX_ROWS) for kind in shown.get(title, ()))
        titled.append((f"{title} (the newest {MAX_ROWS} of each kind; {cut} older ones are in the data "
                       f"exports)" if cut else title, header, rows))
    return titled


def _errors_text(e: dict | None) -> str:
    if not e:
        return "-"
    counts = f"new {e['new_errors']}/{e['new_ops']}, old {e['old_errors']}/{e['old_ops']}"
    if e.get("diff") is None:
        return f"{counts}; {e.get('needed', '')}"
    return f"{e['diff'] * 100:+.2f} pp [{e['low'] * 100:+.2f}, {e['high'] * 100:+.2f}] ({counts})"


def _latency_text(lat: dict | None) -> str:
    if not lat:
        return "not judged"
    if lat.get("shift_ms") is None:
        return lat.get("needed", "")
    odds = "" if lat.get("ratio") is None else f", odds of slower x{lat['ratio']:.2f}"
    return (f"{lat['shift_ms']:+.1f} ms [{lat['low_ms']:+.1f}, {lat['high_ms']:+.1f}]{odds} "
            f"(n new {lat['new_n']}, old {lat['old_n']})")


def chain_line(f: dict[str, Any]) -> str:
    v = f["verify"]
    if v.ok:
        return f"Hash chain verified: {v.events} events, head seq {v.head_seq}, head hash {v.head_hash}"
    return f"HASH CHAIN BROKEN at seq {v.bad_seq}: {v.reason}. Events from seq {v.bad_seq} on cannot be trusted."


_MD_SPECIAL = re.compile(r"([\\`*_\[\]|~])")  # what makes links, emphasis, code and tables


def md_text(x: object) -> str:
    """A string from the session as inert Markdown: secrets masked, control characters visible, Markdown's
    specials backslash-escaped and HTML's escaped, so neither a link, an emphasis nor a tag comes alive."""
    text = visible(redact_text(str(x)), one_line=True)
    return html.escape(_MD_SPECIAL.sub(r"\\\1", text), quote=False)


def render_md(f: dict[str, Any]) -> str:
    cell = md_text

    lines = [f"# Session report: {cell(f['plan'].cutover.name)}", "",
             f"Generated {f['generated'][:19]} UTC from the session store. Every figure below was measured or "
             "recorded during the session.", "", f"**{chain_line(f)}**", ""]
    for title, header, rows in sections(f):
        lines += [f"## {title}", ""]
        if not rows:
            lines += ["(none)", ""]
            continue
        lines.append("| " + " | ".join(header) + " |")
        lines.append("|" + "---|" * len(header))
        lines += ["| " + " | ".join(cell(c) for c in r) + " |" for r in rows]
        lines.append("")
    lines += ["## Metrics", ""]
    for comp, paths in _by_component(f["series"]).items():
        for path, pts in paths.items():
            ops = sum(p[1] for p in pts)
            err = sum(p[2] for p in pts)
            p99 = max((p[3] for p in pts if p[3] is not None), default=None)
            lines.append(f"- {cell(comp)}, {path}: {ops} operations in {len(pts)} 5-s buckets, {err} errors "
                         f"({100 * err / ops if ops else 0:.2f} %), highest bucket p99 "
                         f"{'-' if p99 is None else f'{p99:.0f} ms'}")
    return "\n".join(lines) + "\n"


# ---- HTML --------------------------------------------------------------------------------------------
CSS = """body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:1200px;color:#1a1a1a}
table{border-collapse:collapse;margin:.5em 0 1.5em;width:100%}th,td{border:1px solid #ccc;padding:3px 6px;
text-align:left;vertical-align:top;font-size:12px}th{background:#eef}.ok{background:#e8f5e9;padding:.6em}
.broken{background:#c62828;color:#fff;padding:1em;font-size:18px;font-weight:bold}svg{background:#fafafa;
border:1px solid #ddd;margin:0 1em 1em 0}h1{margin-bottom:0}"""


PATH_NAMES = {"new": "new path", "old": "old path", "all": "no variant"}
COLOURS = {"new path": "#c62828", "old path": "#1565c0", "no variant": "#6a1b9a"}


def _by_component(series) -> dict[str, dict[str, list]]:
    """component -> path name -> [(start, ops, errors, p99)]."""
    out: dict[str, dict[str, list]] = {}
    for comp, variant, start, ops, err, p99 in series:
        out.setdefault(comp, {}).setdefault(PATH_NAMES.get(variant, variant), []).append((start, int(ops), int(err), p99))
    return out


def _epoch(t: datetime) -> float:
    return (t if t.tzinfo else t.replace(tzinfo=UTC)).timestamp()


def svg_plot(title: str, lines: dict[str, list[tuple[datetime, float]]], unit: str,
             markers: list[tuple[datetime, str]] = (), w: int = 720, h: int = 230) -> str:
    """A line per path with both axes labelled (values and UTC times) and the stage changes as dashed
    vertical markers; every string in it is escaped."""
    e = html.escape
    points = [p for pts in lines.values() for p in pts]
    if not points:
        return f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg"><text x="10" y="20">' \
               f"{e(title)}: no data</text></svg>"
    left, right, top_pad, bottom = 60, 20, 34, 40
    times = [_epoch(t) for t, _ in points] + [_epoch(t) for t, _ in markers]  # the stage changes are in view
    t0 = min(times)
    t1 = max(max(times), t0 + 1)
    top = max(v for _, v in points) or 1.0
    x = lambda t: left + (t - t0) / (t1 - t0) * (w - left - right)  # noqa: E731
    y = lambda v: h - bottom - v / top * (h - top_pad - bottom)  # noqa: E731
    out = [f'<svg width="{w}" height="{h}" xmlns="http://www.w3.org/2000/svg" font-size="10">',
           f'<text x="{left}" y="14" font-size="12">{e(title)}</text>',
           f'<line x1="{left}" y1="{h - bottom}" x2="{w - right}" y2="{h - bottom}" stroke="#666"/>',
           f'<line x1="{left}" y1="{top_pad}" x2="{left}" y2="{h - bottom}" stroke="#666"/>',
           f'<text x="{w - right}" y="{h - 6}" text-anchor="end">time (UTC)</text>',
           f'<text x="12" y="{(h - bottom + top_pad) / 2:.0f}" transform="rotate(-90 12 '
           f'{(h - bottom + top_pad) / 2:.0f})" text-anchor="middle">{e(unit.strip())}</text>']
    for frac in (0.0, 0.5, 1.0):
        v = top * frac
        out.append(f'<line x1="{left - 4}" y1="{y(v):.1f}" x2="{w - right}" y2="{y(v):.1f}" stroke="#ddd"/>'
                   f'<text x="{left - 6}" y="{y(v) + 3:.1f}" text-anchor="end">{v:.3g}</text>')
        t = t0 + (t1 - t0) * frac
        out.append(f'<text x="{x(t):.1f}" y="{h - bottom + 14}" text-anchor="middle">'
                   f'{datetime.fromtimestamp(t, UTC).strftime("%H:%M:%S")}</text>')
    for when, label in markers:
        t = _epoch(when)
        out.append(f'<line x1="{x(t):.1f}" y1="{top_pad}" x2="{x(t):.1f}" y2="{h - bottom}" stroke="#888" '
                   f'stroke-dasharray="3,3"/><text x="{x(t) + 2:.1f}" y="{top_pad + 8}" fill="#555">'
                   f"{e(label)}</text>")
    for n, (label, pts) in enumerate(lines.items()):
        colour = COLOURS.get(label, "#2e7d32")
        coords = " ".join(f"{x(_epoch(t)):.1f},{y(v):.1f}" for t, v in pts)
        out.append(f'<polyline fill="none" stroke="{colour}" stroke-width="1.5" points="{coords}"/>'
                   f'<text x="{w - right - 90 * (n + 1)}" y="26" fill="{colour}">— {e(label)}</text>')
    out.append("</svg>")
    return "".join(out)


def render_html(f: dict[str, Any]) -> str:
    e = lambda x: html.escape(visible(redact_text(str(x))))  # noqa: E731 - one escaping rule for every string
    v = f["verify"]
    parts = ["<!DOCTYPE html><html><head><meta charset='utf-8'>",
             f"<title>Session report: {e(f['plan'].cutover.name)}</title><style>{CSS}</style></head><body>",
             f"<h1>Session report: {e(f['plan'].cutover.name)}</h1>",
             f"<p>Generated {e(f['generated'][:19])} UTC from the session store. Every figure below was measured "
             "or recorded during the session.</p>",
             f"<p class='{'ok' if v.ok else 'broken'}'>{e(chain_line(f))}</p>"]
    for title, header, rows in sections(f):
        parts.append(f"<h2>{e(title)}</h2>")
        if not rows:
            parts.append("<p>(none)</p>")
            continue
        parts.append("<table><tr>" + "".join(f"<th>{e(c)}</th>" for c in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in r) + "</tr>" for r in rows]
        parts.append("</table>")
    parts.append("<h2>Metrics (stored 5-second aggregates, new and old path; dashed: stage changes)</h2>")
    changes: dict[str, list[tuple[datetime, str]]] = {}
    for ev in f["by_kind"].get("stage.changed", []):
        changes.setdefault(ev.component or "", []).append((ev.ts, f"{ev.payload['to']} {ev.payload['to_percent']:g}%"))
    for comp, paths in _by_component(f["series"]).items():
        err = {path: [(s, 100 * er / ops if ops else 0.0) for s, ops, er, _ in pts] for path, pts in paths.items()}
        p99 = {path: [(s, p) for s, _, _, p in pts if p is not None] for path, pts in paths.items()}
        marks = changes.get(comp, [])
        parts.append(f"<h3>{e(comp)}</h3>{svg_plot(f'{comp}: error rate per 5 s', err, '%', marks)}"
                     f"{svg_plot(f'{comp}: p99 latency per 5 s', p99, 'ms', marks)}")
    parts.append("</body></html>\n")
    return "".join(parts)

