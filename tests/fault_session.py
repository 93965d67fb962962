"""A scripted operator session for the kill -9 suite: `python tests/fault_session.py PLAN SEED N`.

It opens the engine exactly as the console does (the console is this engine plus screens that hold no
state) and performs N operations chosen by SEED: advances with an override, steps back, rollbacks,
rollback points, auto-advance toggles, checklist completions, reopenings and notes. After each
operation returns it prints `ok <head seq>`: everything up to that seq was reported committed.
"""

from __future__ import annotations

import asyncio
import random
import sys

from mdm_console.engine.checklist import ChecklistRefused
from mdm_console.engine.core import Engine
from mdm_console.engine.effects import EffectError, take_point
from mdm_console.engine.rollback import RollbackError, RollbackRequest
from mdm_console.engine.rollout import RolloutError
from mdm_console.plan.load import load_plan

REFUSED = (RolloutError, EffectError, RollbackError, ChecklistRefused)


async def session(plan: str, seed: int, count: int) -> None:
    rnd = random.Random(seed)
    e = await Engine.open(load_plan(plan), record_start="console")
    await e.rollout.ensure_flag_file()
    comps = [c.id for c in e.plan.components]
    items = [i.id for i in e.plan.checklist]
    ops = {
        "advance": lambda c, i: e.rollout.advance(c, override="fault drill"),
        "step_back": lambda c, i: e.rollout.step_back(c, reason="fault drill"),
        "rollback": lambda c, i: e.rollback.run(RollbackRequest("component", component=c, reason="fault drill")),
        "point": lambda c, i: take_point(e, "fault drill", auto=False),
        "auto": lambda c, i: e.rollout.set_auto_advance(c, not e.state.components[c].auto_advance),
        "complete": lambda c, i: e.checklist.complete(i),
        "reopen": lambda c, i: e.checklist.reopen(i, "fault drill"),
        "note": lambda c, i: e.checklist.note(i, f"note {rnd.random():.6f}"),
    }
    weights = [6, 3, 2, 1, 1, 2, 1, 2]
    for _ in range(count):
        name = rnd.choices(list(ops), weights)[0]
        try:
            await ops[name](rnd.choice(comps), rnd.choice(items))
        except REFUSED:
            pass  # a refusal is recorded too
        print(f"ok {e.state.head_seq}", flush=True)
    await e.close()
    print("done", flush=True)


if __name__ == "__main__":
    asyncio.run(session(sys.argv[1], int(sys.argv[2]), int(sys.argv[3])))
