"""Loading a large plan: the generated plan of benchmarks/scale.py (N components, 10 N checklist items), parsed
by the compiled tomli the console uses against the standard library's tomllib (the same parser, interpreted),
in turns in one process; and the whole `load_plan` (parse, validate, check paths) beside them.

Each figure is the best of --runs turns (the machine's speed moves between turns; the best is each parser's
own cost).

Usage: python benchmarks/plan_load.py [--components 400] [--runs 7] [--json]
"""

from __future__ import annotations

import tempfile
import time
import tomllib
from pathlib import Path

import tomli
from _common import emit, parse_args
from _scaleplan import write_scale_plan

from mdm_console.plan.load import load_plan


def best(fn, runs: int) -> float:
    took = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        took.append(time.perf_counter() - t0)
    return min(took)


def main() -> None:
    args = parse_args(components=400, runs=7)
    with tempfile.TemporaryDirectory() as tmp:
        plan = write_scale_plan(Path(tmp), args.components)
        text = plan.read_text("utf-8")
        assert tomli.loads(text) == tomllib.loads(text)  # the same document, or the comparison means nothing
        std, ours, whole = [], [], []
        for _ in range(args.runs):  # in turns: a slow minute slows both
            std.append(best(lambda: tomllib.loads(text), 1))
            ours.append(best(lambda: tomli.loads(text), 1))
            whole.append(best(lambda: load_plan(plan), 1))
    size = f"{len(text.encode()) / 1024:.0f} KiB plan of {args.components} components, " \
           f"{10 * args.components} checklist items"
    rows = [
        {"figure": f"plan parse, N={args.components}", "goal": "", "value": round(min(ours) * 1000, 1), "unit": "ms",
         "baseline": round(min(std) * 1000, 1), "ratio": round(min(ours) / min(std), 2),
         "how": f"tomli (compiled) on a {size}; baseline = the standard library's tomllib on the same text, in "
                f"turns; best of {args.runs}"},
        {"figure": f"plan load, N={args.components}", "goal": "", "value": round(min(whole) * 1000, 1), "unit": "ms",
         "how": "load_plan: read, parse, validate (pydantic), check the paths it writes; best of "
                f"{args.runs}"},
    ]
    emit(rows, args.json)


if __name__ == "__main__":
    main()
