"""`mdm-console rollback --kind full|component|flags|config ... [--dry-run] --yes`."""

from __future__ import annotations

import argparse

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliExit, load, open_engine, require_writable, run_async


def add_parser(sub, parents) -> None:
    p = sub.add_parser("rollback", parents=parents, help="roll back: full, one component, flags only or config only",
                       description="Roll back to an earlier state. full: every component to 0 %% and the config "
                       "files restored from the point (default: the session's first point); component: one "
                       "component to an earlier stage (default 0 %%); flags: the flag file only, to a point's "
                       "stages or 0 %%; config: the snapshot files only (default: the newest point). A rollback "
                       "point is taken first; the plan's `rollback` validators verify afterwards.")
    p.add_argument("--kind", required=True, choices=("full", "component", "flags", "config"))
    p.add_argument("--component", metavar="C")
    p.add_argument("--to-stage", metavar="S")
    p.add_argument("--point", metavar="ID", help="a rollback point id (see `mdm-console points`)")
    p.add_argument("--reason", default="", help="why (recorded)")
    p.add_argument("--dry-run", action="store_true", help="list every change (stages, file diffs); change nothing")
    p.add_argument("--yes", action="store_true", help="really do it (required unless --dry-run)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if not args.dry_run and not args.yes:
        raise CliExit(EXIT_USAGE, "rollback changes the flag file and config files: add --yes (or --dry-run)")
    loaded = load(args)

    async def go() -> int:
        from mdm_console.engine.effects import EffectError
        from mdm_console.engine.rollback import RollbackError, RollbackRequest
        from mdm_console.engine.rollout import RolloutError

        engine = await open_engine(args, loaded, read_only=args.dry_run)
        req = RollbackRequest(args.kind, args.component, args.to_stage, args.point, args.reason)
        try:
            if args.dry_run:
                plan = await engine.rollback.plan(req)
                print("\n".join(plan.lines()))
                if plan.flag_diff:
                    print(plan.flag_diff, end="")
                for diff in plan.file_diffs.values():
                    print(diff, end="")
                print("dry run: nothing changed")
                return EXIT_OK
            require_writable(engine)
            result = await engine.rollback.run(req)
        except (RollbackError, RolloutError, EffectError) as exc:
            raise CliExit(EXIT_FAILED, f"rollback {args.kind}: {exc}") from None
        finally:
            await engine.close()
        print("\n".join(result.plan.lines()))
        flags = f"; flag file written after {result.flags_s * 1000:.0f} ms" if result.flags_s is not None else ""
        print(f"done in {result.elapsed_s:.2f} s (target {result.target_s:g} s: "
              f"{'met' if result.within_target else 'MISSED'}){flags}")
        v = result.verification
        if v is None:
            print("verification: the plan has no `rollback` validators")
        else:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(v.counts().items()))
            print(f"verification: {counts}")
            for r in v.results:
                if r["status"] != "passed":
                    print(f"  {r['status'].upper()} {r['id']}: {r['detail']}")
        return EXIT_OK if result.verified else EXIT_FAILED

    return run_async(go)
