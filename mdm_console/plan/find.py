"""Which plan a command uses (no pydantic here: the console names it on its first frame)."""

from __future__ import annotations

import os
from pathlib import Path

PLAN_FILENAME = "mdm-plan.toml"


def find_plan(explicit: str | os.PathLike | None, cwd: Path | None = None) -> tuple[Path | None, bool]:
    """Plan lookup order: --plan, ./mdm-plan.toml, else the demo. Returns (path, is_demo)."""
    if explicit:
        return Path(explicit), False
    local = (cwd or Path.cwd()) / PLAN_FILENAME
    if local.exists():
        return local, False
    return None, True
