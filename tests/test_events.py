"""Event kinds are typed in one module (engine/events.py); the suite records every event under that check."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from mdm_console.engine import events
from mdm_console.engine.state import HANDLERS


def test_every_kind_the_state_applies_is_a_typed_kind():
    assert set(HANDLERS) <= set(events.KINDS), set(HANDLERS) - set(events.KINDS)


async def test_the_engine_refuses_an_unknown_kind_or_a_payload_that_is_not_its_kinds(plan_file):
    from mdm_console.engine.core import Engine
    from mdm_console.plan.load import load_plan

    assert events.CHECK  # set for the whole suite (conftest)
    e = await Engine.open(load_plan(plan_file), record_start="test")
    try:
        head = e.state.head_seq
        with pytest.raises(events.UnknownEvent, match="stage.chnaged"):
            await e.record("stage.chnaged", "storage", {})
        with pytest.raises(ValidationError, match="level"):
            await e.record("alert.raised", None, {"alert": "x", "message": "no level"})
        with pytest.raises(ValidationError, match="surprise"):
            await e.record("checklist.note", None, {"item": "a", "text": "t", "surprise": 1})
        assert e.state.head_seq == head  # nothing of it reached the log
        await e.record("checklist.note", None, {"item": "a", "text": "fine"})
        assert e.state.head_seq == head + 1
    finally:
        await e.close()


def test_the_schema_document_names_every_kind_with_its_payload():
    from mdm_console.api.schema import document

    d = document()
    assert set(d["x-event-kinds"]) == set(events.KINDS)
    ref = d["x-event-kinds"]["stage.changed"]["$ref"].rsplit("/", 1)[1]
    assert {"component", "from", "to", "to_percent", "intent"} <= set(d["components"]["schemas"][ref]["properties"])
