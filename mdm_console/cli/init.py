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
    from mdm_console.plan.schema import SCHEMA_FILE

    existing = [str(target / f) for f in (*FILES, SCHEMA_FILE) if (target / f).exists()]
    if existing:
        raise CliExit(EXIT_FAILED, "refusing to overwrite: " + ", ".join(existing))
    from mdm_console.plan.schema import SCHEMA_FILE, schema_text

    source = resources.files(EXAMPLE_PACKAGE)
    contents = {rel: source.joinpath(rel).read_bytes() for rel in FILES}
    contents[SCHEMA_FILE] = schema_text().encode()  # the plan's `#:schema` line points at it (TOML editors)
    for rel, data in contents.items():
        dest = target / rel
        dest.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
        with open(dest, "xb") as fh:  # "x": never replace a file that appeared meanwhile
            fh.write(data)
        os.chmod(dest, 0o644)
    print(f"wrote {target / FILES[0]}, {target / FILES[1]} and {target / SCHEMA_FILE}")
    print(f"next: mdm-console status --plan {target / FILES[0]}")
    return EXIT_OK
