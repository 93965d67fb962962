"""`mdm-console reconcile [--finish | --revert] --yes`: close intents a crash left open."""

from __future__ import annotations

import argparse
import asyncio

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, CliExit, load, open_engine, require_writable, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("reconcile", parents=parents, help="finish or revert a change a crash left half-done",
                       description="List intents without their done event and what the files on disk hold "
                       "(compared by sha256). With --yes: finish (make the change and record it) or revert "
                       "(restore the files from the point taken before it). Without a choice, --yes takes the "
                       "suggested one: finish when the disk already has the change, else revert.")
    g = p.add_mutually_exclusive_group()
    g.add_argument("--finish", action="store_true")
    g.add_argument("--revert", action="store_true")
    p.add_argument("--yes", action="store_true", help="carry it out")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    loaded = load(args)

    async def go() -> int:
        from mdm_console.engine import effects

        engine = await open_engine(args, loaded, read_only=not args.yes)
        try:
            pending = list(engine.state.open_intents.values())
            if not pending:
                print("no open intents: nothing to reconcile")
                return EXIT_OK
            for payload in pending:
                info = await asyncio.to_thread(effects.inspect, engine, payload)
                suggested = "finish" if info.effect_on_disk == "complete" else "revert"
                print(f"intent {info.intent} ({info.action}, seq {info.seq}): on disk the change is "
                      f"{info.effect_on_disk}; suggested: {suggested}")
                for d in info.details:
                    print(f"    {d}")
                if not args.yes:
                    continue
                require_writable(engine)
                choice = "finish" if args.finish else "revert" if args.revert else suggested
                try:
                    if choice == "finish":
                        await effects.finish(engine, payload)
                    else:
                        await effects.revert(engine, payload)
                except effects.EffectError as exc:
                    raise CliExit(EXIT_FAILED, f"reconcile {info.intent}: {exc}") from None
                print(f"    {choice}ed")
            if not args.yes:
                print("run again with --yes (and --finish or --revert) to resolve")
                return EXIT_FAILED
            return EXIT_OK
        finally:
            await engine.close()

    return run_async(go)
