"""What the operator can do, shared by the keys of every screen and the command palette.

Each action asks the session (`client/session.py`: the engine in this process, or the service this console is
attached to) in a worker (group "operation" while it changes something, so quitting asks first) and reports the
outcome as a notification; the screens redraw from the events the session receives.
"""

from __future__ import annotations

from textual import work

from mdm_console.exits import OpFailed
from mdm_console.ui.modals.confirm import ConfirmModal
from mdm_console.ui.modals.reason import ReasonModal
from mdm_console.ui.modals.signoff import SignoffModal


class Actions:
    """Mixed into ConsoleApp."""

    # ---- rollout ----------------------------------------------------------------------------
    @work(group="operation")
    async def advance(self, component: str) -> None:
        """`a`: what will change and every gate first, with a reason (required when a gate fails, then an override,
        or when the plan's gate says require_reason); nothing moves without this confirm."""
        from mdm_console.api import models as m

        s = self.session
        nxt = s.next_stage(component)
        if nxt is None:
            self.notify(f"{component} is at the last stage", severity="warning")
            return
        st = s.state.components[component]
        saw = st.stage  # read now: the state object moves on while the dialog is open
        gates = s.gates(component)
        failing = [g for g in gates if not g.ok]
        required = bool(failing) or s.plan.gate_for(component).require_reason
        table = "\n".join(f"{'✔' if g.ok else '✘'} {g.name}: {g.reason}" for g in gates)
        why = ("The override and your reason are recorded with the failing values." if failing else
               "Your reason is recorded with the stage change" + (" (the plan requires one)." if required else "."))
        reason = await self.push_screen_wait(ReasonModal(
            f"Advance {component}: {st.stage} ({st.percent:g} %) -> {nxt[0]} ({nxt[1]:g} %)?"
            + (f" {len(failing)} gate(s) fail." if failing else ""),
            f"The flag file changes now: {nxt[1]:g} % of users take the new path.\n\n{table}\n\n{why}",
            placeholder="reason for the override" if failing else "reason", required=required,
            confirm="Override and advance" if failing else "Advance"))
        if reason is None:
            return
        r = await self._ask("advance", m.AdvanceRequest(component=component, override=reason if failing else None,
                                                         reason=reason, expect_stage=saw))
        if r is None:
            return
        if r.blocked:  # the gates changed between the screen and the request
            self.notify("blocked by " + "; ".join(f"{g['name']} {g['reason']}" for g in r.failing),
                        title="refused", severity="error", timeout=10)
        else:
            self.notify(f"{component} advanced to {r.to_stage} ({r.to_percent:g} %)")

    @work(group="operation")
    async def step_back(self, component: str) -> None:
        from mdm_console.api import models as m

        s = self.session
        st = s.state.components[component]
        idx = s.plan.stage_index(st.stage)
        if idx == 0:
            self.notify(f"{component} is at the first stage", severity="warning")
            return
        prev, saw = s.plan.stages[idx - 1], st.stage
        ok = await self.push_screen_wait(ConfirmModal(
            f"Step {component} back to {prev.name} ({prev.percent:g} %)?",
            f"{component} goes from {st.stage} ({st.percent:g} %) to {prev.name}; the flag file changes now.", "BACK"))
        if ok and await self._ask("step_back", m.StepBackRequest(component=component, reason="operator stepped back",
                                                                           expect_stage=saw)):
            self.notify(f"{component} stepped back to {prev.name}")

    @work(group="operation")
    async def toggle_auto(self, component: str) -> None:
        from mdm_console.api import models as m

        st = self.session.state.components[component]
        on, saw = not st.auto_advance, st.stage
        what = (f"{component} will advance by itself from {st.stage} whenever every gate holds (up to the first "
                "100 % stage)." if on else f"{component} stays at {st.stage} ({st.percent:g} %) until a person "
                "advances it.")
        must = on and bool(st.held)  # resuming a component a rollback holds releases the hold: say why
        if must:
            what += (f"\n\n{component} is held since a rollback ({st.held.get('reason', '')}): resuming releases the "
                     "hold, so say why it may walk forward again.")
        reason = await self.push_screen_wait(ReasonModal(
            f"{'Resume' if on else 'Pause'} auto-advance of {component}?", what,
            placeholder="why (required)" if must else "reason (optional)", confirm="Resume" if on else "Pause",
            required=must))
        if reason is None:
            return
        if await self._ask("auto_advance", m.AutoAdvanceRequest(component=component, enabled=on, reason=reason,
                                                                   expect_stage=saw)):
            self.notify(f"auto-advance {'resumed' if on else 'paused'} for {component}")

    @work(group="operation")
    async def decline_proposal(self, component: str) -> None:
        from mdm_console.api import models as m

        p = self.session.state.components[component].proposal
        if p is None:
            self.notify(f"no rollback of {component} is proposed now", severity="warning")
            return
        reason = await self.push_screen_wait(ReasonModal(
            f"Decline the proposed rollback of {component}?", f"The policy proposed it: {p.get('reason', '')}\n\n"
            "It stays at its stage. Your name and reason are recorded; the policy proposes again only once its "
            "criterion has stopped holding and holds again.", placeholder="why (required)", confirm="Decline",
            required=True))
        if reason is None:
            return
        if await self._ask("proposal", m.ProposalRequest(component=component, answer="decline", reason=reason,
                                                         expect_seq=p["seq"])):
            self.notify(f"the proposed rollback of {component} is declined")

    @work(group="operation")
    async def acknowledge(self, alert: str) -> None:
        from mdm_console.api import models as m

        a = self.session.state.alerts.get(alert)
        if a is None:
            return
        note = await self.push_screen_wait(ReasonModal(
            "Acknowledge the automatic rollback?", a.get("message", "") + "\n\nYour name and note are recorded. The "
            "component stays held: advancing it again needs a reason.", placeholder="note (optional)",
            confirm="Acknowledge", required=False))
        if note is None:
            return
        if await self._ask("acknowledge", m.AcknowledgeRequest(alert=alert, note=note)):
            self.notify("acknowledged")

    @work(group="operation")
    async def restore_flags(self) -> None:
        from mdm_console.api import models as m

        reason = await self.push_screen_wait(ReasonModal(
            "Restore the flag file?", "It was changed outside the console. Restoring writes it again from the "
            "recorded stages, over that edit.", confirm="Restore"))
        if reason and await self._ask("flags", m.FlagsRequest(action="restore", reason=reason)):
            self.notify("flag file restored")

    @work(group="operation")
    async def adopt_flags(self) -> None:
        from mdm_console.api import models as m

        reason = await self.push_screen_wait(ReasonModal(
            "Adopt the flag file?", "This session did not write the flag file that is there. Adopting it records "
            "its sha256 and keeps its content in a rollback point; the next change then replaces it.",
            confirm="Adopt"))
        if reason and await self._ask("flags", m.FlagsRequest(action="adopt", reason=reason)):
            self.notify("flag file adopted")

    @work(group="operation")
    async def reconcile(self, intent: str, choice: str) -> None:
        from mdm_console.api import models as m

        if intent not in self.session.state.open_intents:
            return
        if await self._ask("reconcile", m.ReconcileRequest(choice=choice, yes=True, intent=intent)):
            self.notify(f"intent {intent} {choice}ed")

    # ---- validators -----------------------------------------------------------------------------
    @work(group="operation")
    async def run_validators(self, phase: str, only: list[str] | None) -> None:
        from mdm_console.api import models as m

        if self.session.running_validators:
            self.notify("validators are already running (x cancels)", severity="warning")
            return
        try:
            summary = await self.session.call("validate", m.ValidateRequest(phase=phase, only=only))
        except OpFailed as exc:
            self.notify(exc.message, title="validators not run", severity="error", timeout=10)
            return
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts.items()))
        self.notify(f"{phase}: {counts}" + (f" — {summary.stopped}" if summary.stopped else ""),
                    severity="information" if summary.ok else "error", timeout=8)

    @work(group="cancel")
    async def cancel_validators(self, validator_id: str | None) -> None:
        from mdm_console.api import models as m

        running = self.session.running_validators
        one = validator_id if validator_id in running else None
        r = await self._ask("cancel", m.CancelRequest(validator=one))
        if r is None:
            return
        if one and r.cancelled:
            self.notify(f"cancelled {one}")
        elif r.cancelled:
            self.notify(f"cancelled {r.cancelled} running validator(s)")
        else:
            self.notify("nothing is running")

    async def last_result_output(self, validator_id: str) -> str:
        from mdm_console.api import models as m

        try:
            r = await self.session.call("validator_output", m.ValidatorOutputRequest(id=validator_id))
        except OpFailed:
            return ""
        return r.output

    # ---- checklist --------------------------------------------------------------------------------
    @work(group="operation")
    async def checklist_action(self, what: str, item: str) -> None:
        from mdm_console.api import models as m

        c = self.session.checklist
        text, saw = "", c.item(item).status  # compare-and-set: the status the person acted on
        if what != "complete":
            prompts = {"fail": ("Mark {i} failed", "reason"), "note": ("Note on {i}", "note"),
                       "reopen": ("Reopen {i}", "reason")}
            title, placeholder = prompts[what]
            text = await self.push_screen_wait(ReasonModal(title.format(i=item), c.item(item).title,
                                                           placeholder=placeholder))
            if text is None:
                return
        if await self._ask("item", m.ItemRequest(action=what, item=item, text=text,
                                                 expect_status=None if what == "note" else saw)):
            self.notify(f"{item} completed" if what == "complete" else f"{item}: {what} recorded")

    @work(group="operation")
    async def sign_off(self) -> None:
        from mdm_console.api import models as m

        answer = await self.push_screen_wait(SignoffModal(self.session.checklist, self.session.actor.operator))
        if answer is None:
            return
        role, name, comment = answer
        if await self._ask("signoff", m.SignoffRequest(role=role, name=name, comment=comment)):
            self.notify(f"{role} signed by {name}")

    # ---- shared ---------------------------------------------------------------------------------------
    async def _ask(self, name: str, req):
        """One operation; a refusal (a gate, a checklist rule, [access], a full disk) is said, never a crash."""
        try:
            return await self.session.call(name, req)
        except OpFailed as exc:
            self.notify(exc.message, title="refused", severity="error", timeout=10)
            return None
