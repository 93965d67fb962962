"""`mdm-console schema`: the plan's JSON Schema, from the models (for editors and for checking plans elsewhere)."""

from __future__ import annotations

import argparse
import sys

from mdm_console.cli.common import EXIT_OK


def add_parser(sub, parents) -> None:
    p = sub.add_parser("schema", parents=parents, help="print the plan's JSON Schema",
                       description="Print the plan file's JSON Schema (draft 2020-12), generated from the models the "
                       "console validates plans with. `init` writes it beside the example plan, whose `#:schema` line "
                       "lets TOML editors (Taplo, Even Better TOML) check and complete plans.")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    from mdm_console.plan.schema import schema_text

    sys.stdout.write(schema_text())
    return EXIT_OK
