"""Exit codes and the exception that carries one (no imports: the console's first paint and every layer use it)."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


class CliExit(Exception):
    """Raised to end a command with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message


class OpFailed(Exception):
    """An operation refused or failed (a gate, a checklist rule, [access], a full disk): the CLI's exit code and the
    message to show; raised alike by an operation run in this process and by one the service answered."""

    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code, self.message = code, message
