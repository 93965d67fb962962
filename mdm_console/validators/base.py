"""What every validator kind shares: its context and its outcome."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

@dataclass
class Outcome:
    status: str  # passed | failed | error (could not judge: bad input, missing tool)
    detail: str  # the measured value against its threshold, in words
    measured: dict[str, Any] = field(default_factory=dict)
    output: str = ""  # tail of a process's output, if any
    # The time of the operation the check is about (a query's own execution), when the kind measures it: the
    # validator's `max_ms` judges it rather than the whole check (connecting, queueing behind other checks).
    timed_ms: float | None = None


@dataclass(frozen=True)
class Context:
    base_dir: Path  # the plan's directory: relative paths in params start here
    flag_file: Path
    recorded: dict[str, tuple[str, str, float]]  # flag_key -> (component, stage, percent) as the log has it
    timeout: float

    def path(self, p: str | Path) -> Path:
        p = Path(p).expanduser()
        return p if p.is_absolute() else self.base_dir / p


def passed(detail: str, **measured: Any) -> Outcome:
    return Outcome("passed", detail, measured)


def failed(detail: str, **measured: Any) -> Outcome:
    return Outcome("failed", detail, measured)


def error(detail: str, **measured: Any) -> Outcome:
    return Outcome("error", detail, measured)
