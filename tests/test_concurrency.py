"""Compare-and-set on every change: N clients on one service's socket confirm the same change at once; exactly one
acts, every other is refused naming the winner. And the console's dialogs act only on what they showed."""

from __future__ import annotations

import asyncio

import pytest

from mdm_console.api import models as m
from mdm_console.api.ops import OpFailed
from mdm_console.client.remote import ServiceClient
from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.modals.reason import ReasonModal
from tests.test_service import ME, served_here
from tests.ui_helpers import open_engine, until


async def race(e, requests: list[tuple[str, m.Request]]) -> tuple[list, list[str]]:
    """Every request from its own client (its own connection, its own typed name), all sent at once."""
    clients = [await ServiceClient.connect(e.store.path, operator=f"op{i}") for i in range(len(requests))]
    try:
        async def one(client, name, req):
            try:
                return await client.call(name, req)
            except OpFailed as exc:
                return exc

        answers = await asyncio.gather(*(one(c, n, r) for c, (n, r) in zip(clients, requests, strict=True)))
    finally:
        for c in clients:
            await c.close()
    won = [i for i, a in enumerate(answers) if not isinstance(a, OpFailed)]
    return won, [a.message for a in answers if isinstance(a, OpFailed)]


@pytest.mark.parametrize("n", [2, 5, 20])
async def test_n_clients_confirm_the_same_advance_exactly_one_moves_it(plan_file, n):
    async with served_here(plan_file) as (e, server):
        won, refused = await race(e, [("advance", m.AdvanceRequest(component="storage", override="wave 1",
                                                                     expect_stage="testing"))] * n)
        assert len(won) == 1 and len(refused) == n - 1
        winner = f"op{won[0]}"
        for message in refused:  # each names the move, who made it, and what the loser saw
            assert f'storage moved to canary (5 %) by {ME} (typed "{winner}")' in message  # the OS user first
            assert "you saw testing: look again" in message
        changed = [ev for ev in await e.events() if ev.kind == "stage.changed"]
        assert [(ev.payload["from"], ev.payload["to"]) for ev in changed] == [("testing", "canary")]
        assert e.state.components["storage"].stage == "canary"


async def test_two_clients_race_at_every_kind_of_change(plan_file):
    async with served_here(plan_file) as (e, server):
        await e.rollout.advance("storage", override="setup")
        await e.rollout.advance("storage", override="setup")  # early_adopters, 50 %
        # Step back: one step only, not two.
        won, refused = await race(e, [("step_back", m.StepBackRequest(component="storage",
                                                                        expect_stage="early_adopters"))] * 2)
        assert len(won) == 1 and f'moved to canary (5 %) by {ME} (typed "op{won[0]}")' in refused[0], refused
        assert e.state.components["storage"].stage == "canary"
        # A rollback and an advance confirmed from the same view: one of them, never both.
        won, refused = await race(e, [
            ("rollback", m.RollbackRequest(kind="component", component="storage", reason="errors",
                                           expect_stages={"storage": "canary"})),
            ("advance", m.AdvanceRequest(component="storage", override="looks fine", expect_stage="canary"))])
        assert len(won) == 1 and "you saw canary: look again" in refused[0]
        moves = [ev for ev in await e.events() if ev.kind == "stage.changed"]
        assert len(moves) == 4
        # Auto-advance resumed on a stage that moved: refused too.
        stage = e.state.components["storage"].stage
        won, refused = await race(e, [
            ("auto_advance", m.AutoAdvanceRequest(component="storage", enabled=False, expect_stage="canary")),
            ("auto_advance", m.AutoAdvanceRequest(component="storage", enabled=False, expect_stage=stage))])
        assert won == [1] and f"storage moved to {stage}" in refused[0]
        # A checklist item: completed and failed at once from the same "pending" view: one of them.
        won, refused = await race(e, [
            ("item", m.ItemRequest(action="complete", item="a", expect_status="pending")),
            ("item", m.ItemRequest(action="fail", item="a", text="backup missing", expect_status="pending"))])
        assert len(won) == 1 and "not pending as you saw it: look again" in refused[0], refused
        status = [ev.payload["status"] for ev in await e.events() if ev.kind == "checklist.status"]
        assert len(status) == 1


async def test_the_advance_dialog_acts_only_on_the_stage_it_showed(tmp_path):
    e = await open_engine(tmp_path, min_stage=0)
    app = ConsoleApp(e, keymap={})
    async with app.run_test(size=(150, 45), notifications=True) as pilot:
        await pilot.press("2", "a")
        await until(pilot, lambda: isinstance(app.screen, ReasonModal))
        assert "testing (0 %) -> canary (5 %)" in app.screen.title_text
        with e.acting_as("op2"):  # another console confirms first
            await e.rollout.advance("storage", reason="op2 went first")
        app.screen.query_one("Input").value = "wave 1"
        await pilot.press("enter")
        await until(pilot, lambda: [n for n in app._notifications if n.title == "refused"])
        refused = next(n.message for n in app._notifications if n.title == "refused")
        assert f'storage moved to canary (5 %) by {ME} (typed "op2")' in refused and "you saw testing" in refused
        assert e.state.components["storage"].stage == "canary"  # not early_adopters
    changed = [ev for ev in await e.events() if ev.kind == "stage.changed"]
    assert [ev.actor.operator for ev in changed] == ["op2"]
    await e.close()
