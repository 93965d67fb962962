"""The `mdm-console` command: argument parsing only; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys

from mdm_console import __version__
from mdm_console.cli import (
    acknowledge, advance, check_metrics, checklist, console, demo_workload, export, init, log, notify_test, points,
    proposal, reconcile, rollback, schema, serve, status, validate, verify_log,
)
from mdm_console.cli.common import EXIT_USAGE, CliExit, VisibleStream, err, global_options

SUBCOMMANDS = (init, schema, serve, status, validate, advance, rollback, proposal, acknowledge, points, reconcile,
               checklist, log, export, verify_log, check_metrics, notify_test, demo_workload)


def build_parser() -> argparse.ArgumentParser:
    shared = global_options()
    parser = argparse.ArgumentParser(
        prog="mdm-console",
        parents=[shared],
        description="The cockpit for a migration cutover window. With no subcommand, opens the console "
        "(on ./mdm-plan.toml, --plan, or the built-in demo).",
    )
    parser.add_argument("--version", action="version", version=f"mdm-console {__version__}")
    console.add_arguments(parser)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in SUBCOMMANDS:
        module.add_parser(sub, [shared])
    return parser


def main(argv: list[str] | None = None) -> int:
    # Nothing we write is group- or world-writable, whatever the caller's umask.
    os.umask(os.umask(0o022) | 0o022)
    parser = build_parser()
    args = parser.parse_args(argv)
    run = getattr(args, "run", console.run)
    if run is not console.run:
        # Names, reasons and validator output reach the terminal as text, never as control sequences.
        sys.stdout, sys.stderr = VisibleStream(sys.stdout), VisibleStream(sys.stderr)
    try:
        return run(args)
    except CliExit as exc:
        if exc.message:
            err(exc.message)
        if getattr(args, "json", False):  # --json: one document on stdout, an error included
            import json

            print(json.dumps({"error": exc.message, "exit_code": exc.code}, ensure_ascii=False))
        return exc.code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0
    except Exception as exc:  # noqa: BLE001 - one line for the operator; the traceback goes to a file
        where = _save_traceback()
        err(f"mdm-console: unexpected error: {type(exc).__name__}: {exc}"
            + (f" (traceback in {where})" if where else ""))
        return 1


def _save_traceback() -> str | None:
    """The traceback (without local variables, which may hold secrets) in a 0600 file of the state dir."""
    import time
    import traceback

    from mdm_console.plan.demo_setup import state_dir

    try:
        d = state_dir()
        d.mkdir(parents=True, exist_ok=True, mode=0o700)
        path = d / f"crash-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}.txt"
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as fh:
            fh.write(traceback.format_exc())
        return str(path)
    except OSError:
        return None


__all__ = ["main", "build_parser", "EXIT_USAGE"]
