"""`mdm-console init [DIR]`: write a commented example plan and the files it refers to."""

from __future__ import annotations

import argparse
import os
from importlib import resources
from pathlib import Path

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, CliExit

EXAMPLE_PACKAGE = "mdm_console.plan.example"
FILES = ("mdm-plan.toml", "config/app.toml")


def add_parser(sub, parents) -> None:
    p = sub.add_parser("init", parents=parents, help="write a commented example plan (DIR/mdm-plan.toml)",
                       description="Write an example plan and its config file; never overwrites.")
    p.add_argument("dir", nargs="?", default=".", metavar="DIR")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    target = Path(args.dir).expanduser()
    existing = [str(target / f) for f in FILES if (target / f).exists()]
    if existing:
        raise CliExit(EXIT_FAILED, "refusing to overwrite: " + ", ".join(existing))
    source = resources.files(EXAMPLE_PACKAGE)
    for rel in FILES:
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with open(dest, "xb") as fh:  # "x": never replace a file that appeared meanwhile
            fh.write(source.joinpath(rel).read_bytes())
        os.chmod(dest, 0o644)
    print(f"wrote {target / FILES[0]} and {target / FILES[1]}")
    print(f"next: mdm-console status --plan {target / FILES[0]}")
    return EXIT_OK
