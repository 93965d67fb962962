"""`python`: call `pkg.mod:func(**kwargs)` in a separate interpreter, so a hang can be killed."""

from __future__ import annotations

import json
import sys

from mdm_console.plan.validator_params import PythonParams
from mdm_console.validators import proc
from mdm_console.validators.base import Context, Outcome

RESULT_MARK = "@@mdm-result@@ "


async def check(p: PythonParams, ctx: Context) -> Outcome:
    argv = [sys.executable, "-m", "mdm_console.validators.pycall", p.callable]
    stdin = json.dumps({"kwargs": p.kwargs, "base_dir": str(ctx.base_dir)}).encode()
    r = await proc.run(argv, cwd=str(ctx.base_dir), timeout=ctx.timeout, stdin=stdin)
    if r.timed_out:
        return Outcome("timeout", f"{p.callable} did not return within {ctx.timeout:g} s; killed", {}, r.output)
    lines = r.output.splitlines()
    marked = [ln for ln in lines if ln.startswith(RESULT_MARK)]
    output = "\n".join(ln for ln in lines if not ln.startswith(RESULT_MARK))
    if not marked:
        return Outcome("error", f"{p.callable} exited {r.exit_code} without a result", {}, output)
    res = json.loads(marked[-1][len(RESULT_MARK):])
    return Outcome(res["status"], res["detail"], res.get("measured", {}), output)
