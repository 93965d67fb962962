"""What the operator can do, shared by the keys of every screen and the command palette.

Each action calls an engine method in a worker (group "operation" while it changes
something, so quitting asks first) and reports the outcome as a notification; the screens
redraw from the events the engine records.
"""

from __future__ import annotations

from textual import work

from mdm_console.ui.modals.confirm import ConfirmModal
from mdm_console.ui.modals.reason import ReasonModal
from mdm_console.ui.modals.signoff import SignoffModal



def refusals() -> tuple[type[Exception], ...]:
    """The engine's "no" (imported on first use: the engine loads after the console's first paint)."""
    from mdm_console.engine.checklist import ChecklistRefused
    from mdm_console.engine.effects import EffectError
    from mdm_console.engine.rollback import RollbackError
    from mdm_console.engine.rollout import RolloutError
    from mdm_console.store.errors import StoreError

    # StoreError: the session log could not take the change (a full disk, a lost db): said, never a crash.
    return RolloutError, EffectError, RollbackError, ChecklistRefused, StoreError


class Actions:
    """Mixed into ConsoleApp."""

    # ---- rollout ----------------------------------------------------------------------------
    @work(group="operation")
    async def advance(self, component: str) -> None:
        e = self.engine
        nxt = e.rollout.next_stage(component)
        if nxt is None:
            self.notify(f"{component} is at the last stage", severity="warning")
            return
        failing = [g for g in e.rollout.gates(component) if not g.ok]
        override = None
        if failing:
            detail = "\n".join(f"✘ {g.name}: {g.reason}" for g in failing)
            override = await self.push_screen_wait(ReasonModal(
                f"Advance {component} to {nxt[0]} ({nxt[1]:g} %) despite {len(failing)} failing gate(s)?",
                detail + "\n\nThe override and your reason are recorded with the failing values.",
                placeholder="reason for the override", confirm="Override and advance"))
            if override is None:
                return
        await self._try(e.rollout.advance(component, override=override),
                        f"{component} advanced to {nxt[0]} ({nxt[1]:g} %)")

    @work(group="operation")
    async def step_back(self, component: str) -> None:
        st = self.engine.state.components[component]
        idx = self.engine.plan.stage_index(st.stage)
        if idx == 0:
            self.notify(f"{component} is at the first stage", severity="warning")
            return
        prev = self.engine.plan.stages[idx - 1]
        ok = await self.push_screen_wait(ConfirmModal(
            f"Step {component} back to {prev.name} ({prev.percent:g} %)?",
            f"{component} goes from {st.stage} ({st.percent:g} %) to {prev.name}; the flag file changes now.", "BACK"))
        if ok:
            await self._try(self.engine.rollout.step_back(component, reason="operator stepped back"),
                            f"{component} stepped back to {prev.name}")

    @work(group="operation")
    async def toggle_auto(self, component: str) -> None:
        on = not self.engine.state.components[component].auto_advance
        await self._try(self.engine.rollout.set_auto_advance(component, on),
                        f"auto-advance {'resumed' if on else 'paused'} for {component}")

    @work(group="operation")
    async def acknowledge(self, alert: str) -> None:
        a = self.engine.state.alerts.get(alert)
        if a is None:
            return
        note = await self.push_screen_wait(ReasonModal(
            "Acknowledge the automatic rollback?", a.get("message", "") + "\n\nYour name and note are recorded. The "
            "component stays held: advancing it again needs a reason.", placeholder="note (optional)",
            confirm="Acknowledge", required=False))
        if note is None:
            return
        try:
            await self._try(self.engine.acknowledge(alert, note), "acknowledged")
        except (KeyError, ValueError):  # someone acknowledged it meanwhile (another console, the CLI)
            self.notify("that alert is no longer active", severity="warning")

    @work(group="operation")
    async def restore_flags(self) -> None:
        reason = await self.push_screen_wait(ReasonModal(
            "Restore the flag file?", "It was changed outside the console. Restoring writes it again from the "
            "recorded stages, over that edit.", confirm="Restore"))
        if reason:
            await self._try(self.engine.rollout.restore_flags(reason), "flag file restored")

    @work(group="operation")
    async def adopt_flags(self) -> None:
        reason = await self.push_screen_wait(ReasonModal(
            "Adopt the flag file?", "This session did not write the flag file that is there. Adopting it records "
            "its sha256 and keeps its content in a rollback point; the next change then replaces it.",
            confirm="Adopt"))
        if reason:
            await self._try(self.engine.rollout.adopt_flag_file(reason), "flag file adopted")

    @work(group="operation")
    async def reconcile(self, intent: str, choice: str) -> None:
        from mdm_console.engine import effects

        payload = self.engine.state.open_intents.get(intent)
        if payload is None:
            return
        fn = effects.finish if choice == "finish" else effects.revert
        await self._try(fn(self.engine, payload), f"intent {intent} {choice}ed")

    # ---- validators -----------------------------------------------------------------------------
    @work(group="operation")
    async def run_validators(self, phase: str, only: list[str] | None) -> None:
        if self.engine.validation.running:
            self.notify("validators are already running (x cancels)", severity="warning")
            return
        try:
            summary = await self.engine.validation.run(phase, only)
        except refusals() as exc:
            self.notify(str(exc), title="validators not run", severity="error", timeout=10)
            return
        counts = ", ".join(f"{n} {s}" for s, n in sorted(summary.counts().items()))
        self.notify(f"{phase}: {counts}" + (f" — {summary.stopped}" if summary.stopped else ""),
                    severity="information" if summary.ok else "error", timeout=8)

    def cancel_validators(self, validator_id: str | None) -> None:
        v = self.engine.validation
        if validator_id and v.cancel(validator_id):
            self.notify(f"cancelled {validator_id}")
        elif n := v.cancel_all():
            self.notify(f"cancelled {n} running validator(s)")
        else:
            self.notify("nothing is running")

    async def last_result_output(self, validator_id: str) -> str:
        def q(con):
            row = con.execute("SELECT payload->>'output_tail' FROM event_log WHERE kind = 'validator.result' "
                              "AND payload->>'id' = ? ORDER BY seq DESC LIMIT 1", [validator_id]).fetchone()
            return row[0] if row else ""

        return await self.engine.store.acall(q) or ""

    # ---- checklist --------------------------------------------------------------------------------
    @work(group="operation")
    async def checklist_action(self, what: str, item: str) -> None:
        c = self.engine.checklist
        if what == "complete":
            await self._try(c.complete(item), f"{item} completed")
            return
        prompts = {"fail": ("Mark {i} failed", "reason"), "note": ("Note on {i}", "note"),
                   "reopen": ("Reopen {i}", "reason")}
        title, placeholder = prompts[what]
        text = await self.push_screen_wait(ReasonModal(title.format(i=item), c.item(item).title,
                                                       placeholder=placeholder))
        if text is None:
            return
        fn = {"fail": c.fail, "note": c.note, "reopen": c.reopen}[what]
        await self._try(fn(item, text), f"{item}: {what} recorded")

    @work(group="operation")
    async def sign_off(self) -> None:
        answer = await self.push_screen_wait(SignoffModal(self.engine.checklist, self.engine.store.actor.operator))
        if answer is None:
            return
        role, name, comment = answer
        await self._try(self.engine.checklist.sign(role, name, comment), f"{role} signed by {name}")

    # ---- shared ---------------------------------------------------------------------------------------
    async def _try(self, coro, done: str) -> bool:
        try:
            await coro
        except refusals() as exc:
            self.notify(str(exc), title="refused", severity="error", timeout=10)
            return False
        self.notify(done)
        return True
