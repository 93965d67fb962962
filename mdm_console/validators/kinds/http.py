"""`http`: a request, the status and dotted-path JSON equalities (feeds/http.py in a thread: a total
deadline on the socket, redirects only within the same host, credentials masked in messages)."""

from __future__ import annotations

import json

from mdm_console.feeds.http import FetchError, request
from mdm_console.plan.validator_params import HttpParams
from mdm_console.validators.base import Context, Outcome, error, failed, passed
from mdm_console.redact import mask_url
from mdm_console import pools

MAX_BODY = 1024 * 1024


def _request(p: HttpParams, timeout: float) -> tuple[int, bytes]:
    return request(p.url, timeout, method=p.method, headers=p.headers, max_body=MAX_BODY)


def dotted(doc, path: str):
    cur = doc
    for part in path.split("."):
        if isinstance(cur, dict) and part in cur:
            cur = cur[part]
        elif isinstance(cur, list) and part.isdigit() and int(part) < len(cur):
            cur = cur[int(part)]
        else:
            raise KeyError(path)
    return cur


async def check(p: HttpParams, ctx: Context) -> Outcome:
    try:
        status, body = await pools.VALIDATORS.run(_request, p, ctx.timeout)
    except FetchError as exc:
        return error(f"{p.method} {mask_url(p.url)}: {exc}")
    measured = {"status": status, "bytes": len(body)}
    if status != p.expect_status:
        return failed(f"HTTP {status} (expected {p.expect_status})", **measured)
    if p.expect_json:
        try:
            doc = json.loads(body)
        except ValueError:
            return failed(f"HTTP {status} but the body is not JSON", **measured)
        measured["json"] = {}
        for path, want in p.expect_json.items():
            try:
                have = dotted(doc, path)
            except KeyError:
                return failed(f"{path} is missing from the JSON body", **measured)
            if have != want:
                measured["json"][path] = have
                return failed(f"{path} = {have!r} (expected {want!r})", **measured)
            measured["json"][path] = have
    return passed(f"HTTP {status}" + (f", {len(p.expect_json)} JSON value(s) as expected" if p.expect_json else ""),
                  **measured)
