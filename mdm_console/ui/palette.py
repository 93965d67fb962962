"""The command palette: every action, built from the current state when it opens."""

from __future__ import annotations

from functools import partial

from textual.command import DiscoveryHit, Hit, Hits, Provider

from mdm_console.textsafe import visible
from mdm_console.ui.safe import escape


class ConsoleCommands(Provider):
    def commands(self) -> list[tuple[str, object, str]]:
        app = self.app
        e = app.session
        out: list[tuple[str, object, str]] = []
        for n, (mode, title) in enumerate(app.SCREEN_TITLES.items(), 1):
            out.append((f"Go to {title}", partial(app.action_show, mode), f"key {n}"))
        if e.gone and not e.owner and e.can_take_over:
            out.append(("Take the session over (run it in this console)", app.take_over, e.gone))
        out.append(("Export the session log", app.action_export, "jsonl, csv, parquet, md, html"))
        if e.observe:  # read-only: nothing that would change the session is offered
            return out
        for c in e.plan.components:
            st = e.state.components[c.id]
            nxt = e.next_stage(c.id)
            if nxt and st.held:
                out.append((f"Retry {c.id}: advance to {nxt[0]} (held after an automatic rollback; needs a reason)",
                            partial(app.advance, c.id), f"{c.id} was rolled back at {st.held['ts'][11:19]} UTC"))
            elif nxt:
                gates = e.gates(c.id)
                out.append((f"Advance {c.id} to {nxt[0]} (gates: {sum(g.ok for g in gates)} of {len(gates)} hold)",
                            partial(app.advance, c.id), f"{c.id} is at {st.stage} {st.percent:g} %"))
            if e.plan.stage_index(st.stage) > 0:
                out.append((f"Step {c.id} back from {st.stage}", partial(app.step_back, c.id), "one stage down"))
            out.append((f"{'Pause' if st.auto_advance else 'Resume'} auto-advance of {c.id}",
                        partial(app.toggle_auto, c.id), "advances only when every gate holds"))
            if st.proposal:
                p = st.proposal
                out.append((f"Accept the proposed rollback of {c.id}",
                            partial(app.open_rollback, "component", c.id, p.get("reason") or "", p["seq"]),
                            f"proposed by the policy at {p['ts'][11:19]} UTC: {p.get('criterion')}"))
                out.append((f"Decline the proposed rollback of {c.id} (needs a reason)",
                            partial(app.decline_proposal, c.id), "it stays at its stage; recorded with your reason"))
            out.append((f"Roll back {c.id}", partial(app.open_rollback, "component", c.id), "rollback wizard"))
        phases = sorted({p for v in e.plan.validators for p in v.phases})
        for phase in phases:
            n = sum(phase in v.phases for v in e.plan.validators)
            out.append((f"Run {phase} validators ({n})", partial(app.run_validators, phase, None), "validation"))
        out.append(("Rollback wizard", app.action_rollback, "full, component, flags or config"))
        for item in e.checklist.items():
            if item.status != "completed" and not item.why_not:
                out.append((f"Complete {item.id}: {item.title}", partial(app.checklist_action, "complete", item.id),
                            item.section))
        for s in e.checklist.signoffs():
            if not (s.signed and s.current) and not s.unmet:
                out.append((f"Sign off as {s.role}", app.sign_off, "every prerequisite holds"))
        for alert_id, a in e.state.alerts.items():
            if a.get("ack"):
                out.append((f"Acknowledge: {a.get('message', alert_id)[:90]}", partial(app.acknowledge, alert_id),
                            "clears the alert; the component stays held"))
        if "flags.drift" in e.state.alerts and e.state.flags_sha256 is None:
            out.append(("Adopt the flag file (this session did not write it)", app.adopt_flags, "drift"))
        elif "flags.drift" in e.state.alerts:
            out.append(("Restore the flag file (it was edited outside the console)", app.restore_flags, "drift"))
        for intent in e.state.open_intents:
            out.append((f"Finish intent {intent}", partial(app.reconcile, intent, "finish"), "crash recovery"))
            out.append((f"Revert intent {intent}", partial(app.reconcile, intent, "revert"), "crash recovery"))
        return out

    async def discover(self) -> Hits:
        # The palette reads prompts and help as markup: plan titles are escaped so they show as typed.
        for text, cmd, help_text in self.commands():
            yield DiscoveryHit(escape(text), cmd, text=visible(text), help=escape(help_text))

    async def search(self, query: str) -> Hits:
        matcher = self.matcher(query)
        for text, cmd, help_text in self.commands():
            score = matcher.match(visible(text))
            if score > 0:
                yield Hit(score, matcher.highlight(escape(text)), cmd, text=visible(text), help=escape(help_text))
