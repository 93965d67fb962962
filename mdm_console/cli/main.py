"""The `mdm-console` command: argument parsing only; each subcommand lives in its own module."""

from __future__ import annotations

import argparse
import os
import sys

from mdm_console import __version__
from mdm_console.cli import (
    advance, checklist, console, demo_workload, export, init, points, reconcile, rollback, status, validate,
    verify_log,
)
from mdm_console.cli.common import EXIT_USAGE, CliExit, VisibleStream, err, global_options

SUBCOMMANDS = (init, status, validate, advance, rollback, points, reconcile, checklist, export, verify_log,
               demo_workload)


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
        return exc.code
    except KeyboardInterrupt:
        err("interrupted")
        return 130
    except BrokenPipeError:
        sys.stderr.close()
        return 0


__all__ = ["main", "build_parser", "EXIT_USAGE"]
