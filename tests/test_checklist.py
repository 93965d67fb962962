"""Checklist and sign-offs on a real engine: dependencies, validators, roles, state hashes."""

from __future__ import annotations

import json

import pytest

from mdm_console.engine.checklist import ChecklistRefused
from mdm_console.engine.core import Engine
from mdm_console.plan.load import load_plan
from tests.conftest import BASE_PLAN, run_cli

PLAN = BASE_PLAN.replace('[[signoffs]]\nrole = "Ops"', '''[[checklist]]
id = "c"
section = "Post"
title = "Third"
critical = true
depends_on = ["b"]

[[signoffs]]
role = "QA"
requires_sections = ["Pre"]

[[signoffs]]
role = "Ops"''').replace('requires_roles = ["Ops"]', 'requires_roles = ["Ops", "QA"]\nrequires_sections = ["Post"]')


REHEARSAL = "\n[access]\none_os_user_for_rehearsal = true\n"


@pytest.fixture
async def engine(plan_file):
    plan_file.write_text(PLAN + REHEARSAL)  # one OS user runs these tests: a rehearsal
    e = await Engine.open(load_plan(plan_file), record_start="test")
    yield e
    await e.close()


def status(e, item):
    return e.checklist.item(item).status


async def pass_validator(e):
    summary = await e.validation.run("preflight", ["cfg"])
    assert summary.results[0]["status"] == "passed"
    return e.state.validators["cfg"].seq


async def test_dependencies_and_required_validators_gate_completion(engine):
    c = engine.checklist
    with pytest.raises(ChecklistRefused, match="waiting on a; needs passed validator.s. cfg"):
        await c.complete("b")
    await c.complete("a")
    with pytest.raises(ChecklistRefused, match="needs passed validator"):
        await c.complete("b")
    seq = await pass_validator(engine)
    view = await c.complete("b")
    assert view.status == "completed" and view.relied_on == {"cfg": seq}
    events = await engine.events()
    refused = [ev for ev in events if ev.kind == "checklist.refused"]
    assert len(refused) == 2 and refused[0].payload["action"] == "complete"


async def test_a_failed_dependency_blocks_its_dependents_transitively(engine):
    c = engine.checklist
    await c.fail("a", "backup tape unreadable")
    assert (status(engine, "a"), status(engine, "b"), status(engine, "c")) == ("failed", "blocked", "blocked")
    assert c.item("c").blocked_by == ["b"]
    with pytest.raises(ChecklistRefused, match="blocked by a"):
        await c.complete("b")
    with pytest.raises(ChecklistRefused, match="needs a reason"):
        await c.fail("b", "  ")
    await c.reopen("a", "new tape found")
    assert (status(engine, "a"), status(engine, "b")) == ("pending", "pending")
    reopened = (await engine.events(engine.state.head_seq - 1))[-1]
    assert reopened.payload["reopened"] and reopened.payload["previous"] == "failed"


async def test_notes_are_recorded_with_who_and_when(engine):
    await engine.checklist.note("a", "  called the vendor  ")
    [note] = engine.checklist.item("a").notes
    assert note["text"] == "called the vendor" and note["by"] == "tester" and note["ts"]


async def test_unknown_item_is_refused_and_recorded(engine):
    with pytest.raises(ChecklistRefused, match="unknown checklist item 'zz'"):
        await engine.checklist.complete("zz")
    assert (await engine.events(engine.state.head_seq - 1))[-1].kind == "checklist.refused"


async def test_state_hash_changes_with_any_item_change(engine):
    c = engine.checklist
    h0 = c.state_hash()
    await c.note("a", "x")
    h1 = c.state_hash()
    await c.complete("a")
    h2 = c.state_hash()
    assert len({h0, h1, h2}) == 3


async def test_role_prerequisites_distinct_people_and_final_approval(engine):
    c = engine.checklist
    with pytest.raises(ChecklistRefused, match="section 'Pre' has critical items not completed: a"):
        await c.sign("QA", "Quinn")
    await c.complete("a")
    with pytest.raises(ChecklistRefused, match="needs the signer's typed name"):
        await c.sign("QA", "   ")
    with pytest.raises(ChecklistRefused, match="unknown role 'CEO'"):
        await c.sign("CEO", "Quinn")
    qa = await c.sign("QA", "Quinn", "tests green")
    assert qa.signed and qa.current and len(qa.state_hash) == 64
    with pytest.raises(ChecklistRefused, match="already signed by Quinn for the current state"):
        await c.sign("QA", "Quinn")
    with pytest.raises(ChecklistRefused, match="Quinn already signed as 'QA'"):
        await c.sign("Ops", "quinn")
    ops = await c.sign("Ops", "Olga")
    assert ops.signed
    await pass_validator(engine)
    await c.complete("b")
    with pytest.raises(ChecklistRefused) as refused:
        await c.sign("Final Approval", "Olga")
    assert "Olga already signed as 'Ops'" in str(refused.value) and "section 'Post'" in str(refused.value)
    await c.complete("c")
    # b (in QA's and Ops's section) changed after they signed: Final Approval waits for them to sign again.
    with pytest.raises(ChecklistRefused, match="role 'QA' signed an earlier state .changed since: b."):
        await c.sign("Final Approval", "Fiona")
    await c.sign("QA", "Quinn", "b done too")
    await c.sign("Ops", "Olga")
    final = await c.sign("Final Approval", "Fiona")
    assert final.signed and final.current
    assert engine.phase != "finalization"  # components are still at testing
    events = [ev for ev in await engine.events() if ev.kind == "signoff.recorded"]
    assert [ev.payload["role"] for ev in events] == ["QA", "Ops", "QA", "Ops", "Final Approval"]
    assert events[1].payload["warnings"] == [f"OS user {engine.store.actor.os_user} also signed 'QA' (as Quinn): "
                                             "allowed for a rehearsal only (access.one_os_user_for_rehearsal)"]
    assert events[1].payload["rehearsal"] is True and "rehearsal" not in events[0].payload
    assert all(ev.payload["state_hash"] == c.state_hash(ev.payload["state"]) for ev in events)


async def test_one_os_user_cannot_sign_two_roles_outside_a_rehearsal(plan_file):
    plan_file.write_text(PLAN)  # no [access] table: one_os_user_for_rehearsal is false
    e = await Engine.open(load_plan(plan_file), record_start="test")
    try:
        await e.checklist.complete("a")
        await e.checklist.sign("QA", "Quinn")
        with pytest.raises(ChecklistRefused, match=f"OS user {e.store.actor.os_user} already signed 'QA' .as Quinn."):
            await e.checklist.sign("Ops", "Olga")  # another typed name, the same OS account
        refused = [ev for ev in await e.events() if ev.kind == "signoff.refused"]
        assert refused[-1].payload["role"] == "Ops" and "different person" in refused[-1].payload["reasons"][0]
        assert "Ops" not in e.state.signoffs
    finally:
        await e.close()


async def test_a_signature_on_an_earlier_state_is_shown_as_such(engine):
    c = engine.checklist
    await c.complete("a")
    await c.sign("QA", "Quinn")
    await c.fail("b", "config diff found")
    [qa] = [s for s in c.signoffs() if s.role == "QA"]
    assert qa.signed and not qa.current and qa.changed_since == ["b"]  # c is outside QA's sections
    renewed = await c.sign("QA", "Quinn", "re-checked after the config finding")
    assert renewed.current


async def test_signoffs_survive_restart(plan_file):
    plan_file.write_text(PLAN)
    e = await Engine.open(load_plan(plan_file), record_start="test")
    await e.checklist.complete("a")
    await e.checklist.sign("QA", "Quinn")
    await e.close()
    e = await Engine.open(load_plan(plan_file))
    [qa] = [s for s in e.checklist.signoffs() if s.role == "QA"]
    assert qa.signed and qa.current and qa.name == "Quinn"
    await e.close()


def test_cli_checklist_commands_and_exit_codes(plan_file):
    plan_file.write_text(PLAN)
    p = ["--plan", str(plan_file)]
    r = run_cli("complete", "b", *p)
    assert r.returncode == 1 and "refused: waiting on a" in r.stderr
    assert run_cli("complete", "a", *p).returncode == 0
    r = run_cli("signoff", "--role", "QA", "--name", "Quinn", *p)
    assert r.returncode == 0 and "checklist state sha256" in r.stdout
    r = run_cli("signoff", "--role", "Final Approval", "--name", "Quinn", *p)
    assert r.returncode == 1 and "role 'Ops' has not signed" in r.stderr
    r = run_cli("fail", "c", "--reason", "smoke test red", *p)
    assert r.returncode == 0
    r = run_cli("note", "c", "rerun at 02:10", *p)
    assert r.returncode == 0
    r = run_cli("checklist", "--json", *p)
    doc = json.loads(r.stdout)
    items = {i["id"]: i for i in doc["items"]}
    assert items["c"]["status"] == "failed" and items["c"]["notes"][0]["text"] == "rerun at 02:10"
    qa = next(s for s in doc["signoffs"] if s["role"] == "QA")
    assert qa["signed"] and qa["current"]  # c is in Post, outside the sections QA signed for
    assert run_cli("reopen", "a", "--reason", "backup re-check", *p).returncode == 0
    r = run_cli("checklist", *p)
    assert "SIGNED AN EARLIER STATE; changed since: a" in r.stdout


@pytest.mark.parametrize("first, second", [("Alice Dev", "alice  DEV"), ("Alice", "Alice."), ("Ａｌｉｃｅ", "alice"),
                                           ("O'Brien", "obrien"), ("Zoë", "ZOË")])
async def test_one_person_under_two_spellings_cannot_sign_two_roles(engine, first, second):
    c = engine.checklist
    await c.complete("a")
    await c.sign("QA", first)
    with pytest.raises(ChecklistRefused, match="each role needs a different person"):
        await c.sign("Ops", second)
    assert (await c.sign("Ops", "Bob")).signed


async def test_completing_an_item_outside_a_roles_scope_keeps_its_signature_current(engine):
    c = engine.checklist
    await c.complete("a")
    await c.sign("QA", "Quinn")
    await c.note("c", "post item note")  # c is in Post: not QA's
    [qa] = [s for s in c.signoffs() if s.role == "QA"]
    assert qa.current
    await c.note("a", "pre item note")
    [qa] = [s for s in c.signoffs() if s.role == "QA"]
    assert not qa.current and qa.changed_since == ["a"]


async def test_views_judged_again_after_each_event_equal_a_full_pass(engine):
    """After the first pass the checklist judges again only what an event touched and what depends on it: after
    every kind of change its views are those a fresh pass over the whole plan gives, and an untouched item keeps
    its view (the same object, so the pass did not judge everything again)."""
    from mdm_console.engine.checklist import Checklist

    c = engine.checklist

    def same_as_a_full_pass():
        assert c.items() == Checklist(engine).items()
        assert c.state_hash() == Checklist(engine).state_hash()

    same_as_a_full_pass()
    steps = [lambda: c.complete("a"), lambda: c.note("b", "x"), lambda: c.fail("a", "tape"),
             lambda: c.reopen("a", "found"), lambda: pass_validator(engine), lambda: c.complete("a"),
             lambda: c.complete("b"), lambda: c.note("c", "y"), lambda: c.complete("c")]
    for step in steps:
        before = {i.id: i for i in c.items()}
        await step()
        same_as_a_full_pass()
    # the last step (c completed) touched c alone: a and b kept their views
    after = {i.id: i for i in c.items()}
    assert after["a"] is before["a"] and after["b"] is before["b"] and after["c"] is not before["c"]
    assert [status(engine, i) for i in "abc"] == ["completed"] * 3


@pytest.mark.parametrize("by, reason, relied_on, notes", [
    (None, None, {}, 0),
    ("O'Brien \"ops\"", "tab\there\nline\\ back", {"cfg": 3, "z\u00e9": 12}, 2),
    ("\u0000\u001f\u007f\u2028 émoji 🚀", "[b]markup[/b] \x1b[31mred", {"a\"b": 1}, 40),
])
def test_an_items_state_json_is_canonical_json(by, reason, relied_on, notes):
    """The state hash is put together from each item's JSON written out by hand: the same text canonical() writes,
    for hostile text too (a different byte would change every signature's hash)."""
    from mdm_console.engine.checklist import ItemView, _item_json
    from mdm_console.store.chain import canonical

    v = ItemView("i1", "s", "t", False, "completed", [], [], [], [], relied_on, by, reason, [{}] * notes)
    doc = {"status": "completed", "by": by, "reason": reason, "relied_on": relied_on, "notes": notes}
    assert _item_json(v) == canonical(doc)
