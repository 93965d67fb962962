"""Exit codes and the exception that carries one (no imports: the console's first paint and every layer use it)."""

from __future__ import annotations

EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_LOCKED = 0, 1, 2, 3


class CliExit(Exception):
    """Raised to end a command with a message on stderr and an exit code."""

    def __init__(self, code: int, message: str = ""):
        super().__init__(message)
        self.code = code
        self.message = message
