"""`junit`: a JUnit XML result file; passes when failures + errors = 0 and enough tests ran."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from mdm_console.plan.validator_params import JunitParams
from mdm_console.validators.base import Context, Outcome, error, failed, passed
from mdm_console import pools


def _count(root: ET.Element) -> dict[str, int]:
    suites = [root] if root.tag == "testsuite" else root.iter("testsuite")
    totals = {"tests": 0, "failures": 0, "errors": 0, "skipped": 0}
    for suite in suites:
        cases = suite.findall("testcase")
        if cases:  # count the cases themselves: attributes can lie or be missing
            totals["tests"] += len(cases)
            totals["failures"] += sum(1 for c in cases if c.find("failure") is not None)
            totals["errors"] += sum(1 for c in cases if c.find("error") is not None)
            totals["skipped"] += sum(1 for c in cases if c.find("skipped") is not None)
        else:
            for k in totals:
                totals[k] += int(suite.get(k, 0) or 0)
    return totals


def _read(p: JunitParams, ctx: Context) -> Outcome:
    path = ctx.path(p.path)
    try:
        root = ET.parse(path).getroot()
    except FileNotFoundError:
        return error(f"{path} does not exist (has the test run happened?)")
    except ET.ParseError as exc:
        return error(f"{path} is not JUnit XML: {exc}")
    if root.tag not in ("testsuite", "testsuites"):
        return error(f"{path} is XML but not JUnit (root <{root.tag}>)")
    t = _count(root)
    summary = f"{t['tests']} tests, {t['failures']} failures, {t['errors']} errors, {t['skipped']} skipped"
    if t["failures"] + t["errors"]:
        names = [c.get("name", "?") for c in root.iter("testcase")
                 if c.find("failure") is not None or c.find("error") is not None][:5]
        return failed(summary + (f" (e.g. {', '.join(names)})" if names else ""), **t)
    if t["tests"] < p.min_tests:
        return failed(f"{summary}; needs at least {p.min_tests} tests", **t)
    return passed(summary, **t)


async def check(p: JunitParams, ctx: Context) -> Outcome:
    return await pools.VALIDATORS.run(_read, p, ctx)
