"""`mdm-console log`: the session log as the console's log screen shows it, in words, filtered; `--follow` goes
on with live events from the console or service that holds the session."""

from __future__ import annotations

import argparse
import contextlib
import fnmatch
import json
import sys

from mdm_console.cli.common import EXIT_FAILED, EXIT_OK, EXIT_USAGE, CliExit, connect_owner, db_path, load, \
    operations, run_async

PAGE = 5000


def add_parser(sub, parents) -> None:
    p = sub.add_parser("log", parents=parents, help="the session log in words, filtered (--follow for live events)",
                       description="The session's events, oldest first, each as one line (seq, time, who, kind, "
                       "component, what). --details adds who/what/why/when in words, as the console's log screen "
                       "shows them. --follow goes on with live events while a console or `mdm-console serve` "
                       "holds the session.")
    p.add_argument("--kind", default="", metavar="K", help="kind prefix (stage.) or a pattern with * (alert.*)")
    p.add_argument("--component", default="", metavar="C", help="only this component's events")
    p.add_argument("--grep", default="", metavar="TEXT", help="only events whose text holds TEXT (any case)")
    p.add_argument("--since", type=int, default=None, metavar="SEQ", help="only events after this seq (all of them)")
    p.add_argument("--limit", type=int, default=None, metavar="N",
                   help="the newest N matching events (default 50; with --since, all; 0: all)")
    p.add_argument("--follow", "-f", action="store_true", help="then print live events as they are recorded")
    p.add_argument("--wait-owner", type=float, default=30.0, metavar="S",
                   help="--follow: when the session's owner ends, wait this long for it to come back and follow it "
                   "again from the last event printed (default 30; 0: do not wait)")
    p.add_argument("--details", action="store_true", help="each event in words: who, what, why, when")
    out = p.add_mutually_exclusive_group()
    out.add_argument("--json", action="store_true", help="one JSON document: {events, total}")
    out.add_argument("--jsonl", action="store_true", help="one JSON line per event (works with --follow)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.follow and args.json:
        raise CliExit(EXIT_USAGE, "--json prints one document, which a follow never finishes; use --jsonl")
    if args.limit is not None and args.limit < 0:
        raise CliExit(EXIT_USAGE, "--limit must be 0 (all) or more")
    loaded = load(args)
    limit = args.limit if args.limit is not None else (0 if args.since is not None else 50)
    events, total, head = run_async(lambda: _read(args, loaded, limit))
    if args.json:
        print(json.dumps({"events": [ev.model_dump(mode="json") for ev in events], "total": total}, indent=2,
                         ensure_ascii=False))
        return EXIT_OK
    for ev in events:
        _print(ev, args)
    if not args.follow:
        if not events and not args.jsonl:
            print("no events match" if (args.kind or args.component or args.grep) else "no events")
        return EXIT_OK
    # From the head as it was before the history was read (or the last event printed, if newer): an event
    # recorded while the history was read is printed once, by one or the other, never by neither.
    return run_async(lambda: _follow(args, loaded, max(head or 0, events[-1].seq if events else 0)))


async def _read(args, loaded, limit: int):
    """Matching events oldest first (the newest `limit`; 0: all), how many match in all, and (for --follow) the
    head before they were read."""
    from mdm_console.api.models import LogRequest, StateRequest

    got, before, total, head = [], None, 0, None
    async with operations(args, loaded, writes=False) as call:  # one session for every page
        if args.follow:
            head = (await call("state", StateRequest())).head_seq
        while True:
            want = PAGE if not limit else min(PAGE, limit - len(got))
            page = await call("log", LogRequest(kind=args.kind, component=args.component, text=args.grep,
                                                after=args.since or 0, before=before, limit=want))
            total = page.total
            got.extend(page.events)
            if len(page.events) < want or (limit and len(got) >= limit):
                break
            before = page.events[-1].seq
    got.reverse()
    return got, total, head


def _print(ev, args) -> None:
    from mdm_console.api.describe import summary, words

    if args.jsonl:
        print(ev.model_dump_json(), flush=True)
        return
    print(f"{ev.seq:>6}  {ev.ts:%Y-%m-%d %H:%M:%S}  {ev.operator:<12} {ev.kind:<20} {ev.component or '-':<12} "
          f"{summary(ev)}", flush=True)
    if args.details:
        print("\n".join("        " + line for line in words(ev).splitlines()), flush=True)


def matches(ev, args) -> bool:
    """The --kind, --component and --grep filters, as the log operation applies them."""
    if args.kind:
        pattern = args.kind if "*" in args.kind else args.kind + "*"
        if not fnmatch.fnmatchcase(ev.kind, pattern):
            return False
    if args.component and ev.component != args.component:
        return False
    return not args.grep or args.grep.lower() in ev.model_dump_json().lower()


async def _follow(args, loaded, after: int) -> int:
    """Live events after `after`. When the owner ends, a restarted one is followed again from the last event seen
    (within --wait-owner seconds); the exit status says how it ended: 0 a clean stop, 1 a crash or a lost owner."""
    import aiohttp

    db = (db_path(args) or loaded.session_db).absolute()
    client = await connect_owner(args, db)
    if client is None:
        raise CliExit(EXIT_FAILED, "--follow: nothing holds this session (no console or `mdm-console serve` on "
                      f"{db}), so no event can be recorded")
    while True:
        async with client:
            try:
                why, code, dropped = f"the session's owner ({client.owner}) stopped", EXIT_OK, False
                async for line in client.events(after=after):
                    if line.dropped:  # too far behind: resumed from the last seq printed, at once
                        why = f"the session's owner ({client.owner}) dropped this stream ({line.dropped})"
                        dropped = True
                        break
                    if line.event is not None:
                        after = max(after, line.event.seq)
                        if matches(line.event, args):
                            _print(line.event, args)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                why, code = (await client.plain(exc, "the event stream")).message, EXIT_FAILED
        if args.wait_owner <= 0 and not dropped:
            print(f"mdm-console: {why}", file=sys.stderr)
            return code
        print(f"mdm-console: {why}; waiting up to {args.wait_owner:g} s for an owner to follow again", file=sys.stderr)
        client = await _owner_back(args, db, max(args.wait_owner, 5.0) if dropped else args.wait_owner)
        if client is None:
            print(f"mdm-console: no owner came back within {args.wait_owner:g} s", file=sys.stderr)
            return code
        print(f"mdm-console: following again: {client.owner}, from seq {after}", file=sys.stderr)


async def _owner_back(args, db, seconds: float):
    import asyncio

    loop = asyncio.get_running_loop()
    end = loop.time() + seconds
    while loop.time() < end:
        with contextlib.suppress(CliExit):
            client = await connect_owner(args, db)
            if client is not None:
                return client
        await asyncio.sleep(0.25)
    return None
