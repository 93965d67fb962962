"""Child side of the `python` validator kind: import, call, print one marked JSON result.

The callable returns a bool, a (bool, detail) pair, or a dict with `passed`, `detail` and
optionally `measured`. Anything it prints is kept as the output tail.
"""

from __future__ import annotations

import importlib
import json
import sys
import traceback

from mdm_console.validators.kinds.python import RESULT_MARK


def _emit(status: str, detail: str, measured: dict | None = None) -> None:
    print(RESULT_MARK + json.dumps({"status": status, "detail": detail, "measured": measured or {}},
                                   default=str), flush=True)


def main() -> int:
    target = sys.argv[1]
    spec = json.loads(sys.stdin.read() or "{}")
    module_name, _, func_name = target.partition(":")
    try:
        func = getattr(importlib.import_module(module_name), func_name)
    except (ImportError, AttributeError) as exc:
        _emit("error", f"cannot import {target}: {exc}")
        return 0
    try:
        result = func(**spec.get("kwargs", {}))
    except Exception as exc:  # noqa: BLE001 - reported as the validator's error
        traceback.print_exc()
        _emit("error", f"{target} raised {type(exc).__name__}: {exc}")
        return 0
    if isinstance(result, bool):
        _emit("passed" if result else "failed", f"{target} returned {result}")
    elif isinstance(result, tuple) and len(result) == 2:
        _emit("passed" if result[0] else "failed", str(result[1]))
    elif isinstance(result, dict) and "passed" in result:
        _emit("passed" if result["passed"] else "failed", str(result.get("detail", "")), result.get("measured"))
    else:
        _emit("error", f"{target} returned {type(result).__name__}, not a bool, (bool, detail) or dict")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
