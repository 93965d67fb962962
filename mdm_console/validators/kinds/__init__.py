"""One module per validator kind; each exposes `async def check(params, ctx) -> Outcome`."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import Any

from mdm_console.validators.base import Context, Outcome



def checker(kind: str) -> Callable[[Any, Context], Awaitable[Outcome]]:
    return importlib.import_module(f"mdm_console.validators.kinds.{kind}").check
