"""The safety net's judgment on simulated traffic (seeded, reproducible), each figure beside its baseline in the
same run.

Usage: python benchmarks/judgment.py [--canary-hours 10] [--aa-canaries 2000] [--aa-minutes 60] [--fault-runs 8]
                                     [--seed 7] [--json]

1. Policy, healthy canaries: the real LiveMonitor's auto-rollback policy (mode prompt: every proposal counted), looked
   at every simulated second, on a canary at 25 % of 30 ops/s whose two paths are the same: lognormal latency
   (median 5 ms, sigma 1.5) with one request in 200 stuck for 2 s, errors 0.5 % on both. Fed as the JSONL feed does
   (one operation a line, into the monitor's windows) and as the PromQL feed does (each path's rate, error ratio
   and p99 per 5 s poll, through PromQLFeed's own answer handling on a scripted answer stream). Baseline, same
   windows and looks: the rule as it stood before (raw p99 ratio over 20 %, one timer shared by all criteria).
   Goal: 0 false rollbacks per 100 canary-hours.
2. Verdict, A/A: both paths the same error rate (0.5 %), 200 ops per 5 s, the new path's share 1, 5, 25, 50, 90 or
   99 %, read after every 5 s interval for --aa-minutes; the share of canaries ever called a regression, with its
   95 % Clopper-Pearson interval. Goal: at most alpha (0.01). Baseline, same counts: the verdict as it stood (the
   pooled mSPRT interval of the stage's totals).
3. Verdict, shared outages: both paths fail 20 % for 30 s at minute 10, under a drifting split (2.5-7.5 %), an
   on/off split (7.5 % two minutes, 0 % two minutes) and idle-then-on (0 % for 10 minutes, then 5 %). Goal: at most
   alpha blamed on the new path.
4. Verdict gate on a 2x regression at 0.05 % (new path 0.1 %), 1 % share of 2 000 ops/s, two hours: the share of
   canaries whose verdict ever said "no regression detected". Goal: at most 5 %.
5. Time from a fault's start to the policy's decision (the real monitor, mode auto; virtual time; the flag write
   itself is benchmarks/rollback.py's), 5 % share of 400 ops/s, base error rate 0.5 %: 2x, 5x and 10 % errors on the
   new path. Beside it, on the same traffic: the threshold rule alone (error rate over 30 s above 5 % for 60 s) and a
   Flagger-style check (every 60 s, the last minute's success rate below 99 %, 5 failed checks in a row).
   Recorded reasons naming the criterion that really held (it holds at the decision, and its clock started no
   earlier than the fault's first data reached the policy's window): goal 100 %.
"""

from __future__ import annotations

import asyncio
import math
import random
import shutil
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

import numpy as np
from _common import emit, parse_args

from mdm_console.verdict import error_verdict_strata
from mdm_console.verdict.stratified import _logsumexp, grid, loglik

ALPHA = 0.01
BUCKET = 5


def clopper_pearson(k: int, n: int, conf: float = 0.95) -> tuple[float, float]:
    from scipy.stats import beta

    lo = 0.0 if k == 0 else float(beta.ppf((1 - conf) / 2, k, n - k + 1))
    hi = 1.0 if k == n else float(beta.ppf(1 - (1 - conf) / 2, k + 1, n - k))
    return lo, hi


def rate_cell(k: int, n: int) -> str:
    lo, hi = clopper_pearson(k, n)
    return f"{k}/{n} = {100 * k / n:.2f} % [{100 * lo:.2f}, {100 * hi:.2f}]"


# ---- the verdict on simulated counts ------------------------------------------------------------------------------
def pooled_msprt_alarm(n_new, x_new, n_old, x_old) -> bool:
    """The verdict as it stood: the normal-mixture mSPRT interval of p_new - p_old on the stage's totals (plug-in
    variance, mixing scales 0.05-10 pp), a regression once its low end is above 0 with 50 ops on each side."""
    scales = np.array((0.0005, 0.002, 0.008, 0.03, 0.1)) ** 2
    cn, cxn, co, cxo = (np.cumsum(a) for a in (n_new, x_new, n_old, x_old))
    ok = (cn > 0) & (co > 0)
    cn, cxn, co, cxo = cn[ok], cxn[ok], co[ok], cxo[ok]
    if not len(cn):
        return False
    pn, po = (cxn + 0.5) / (cn + 1), (cxo + 0.5) / (co + 1)
    v = (pn * (1 - pn) / cn + po * (1 - po) / co)[:, None]
    diff = cxn / cn - cxo / co
    lo, hi = np.zeros(len(cn)), np.ones(len(cn))
    for _ in range(40):
        mid = (lo + hi) / 2
        terms = 0.5 * np.log(v / (v + scales)) + scales * mid[:, None] ** 2 / (2 * v * (v + scales))
        top = terms.max(axis=1, keepdims=True)
        log_ratio = np.log(np.exp(terms - top).sum(axis=1)) + top[:, 0] - math.log(len(scales))
        reached = log_ratio >= math.log(1 / ALPHA)
        hi, lo = np.where(reached, mid, hi), np.where(reached, lo, mid)
    return bool(np.any((diff - hi > 0) & (np.minimum(cn, co) >= 50)))


def stratified_alarm(n_new, x_new, n_old, x_old) -> bool:
    """The verdict's regression call (verdict/stratified.py's one-sided mixture), at every look at once: after each
    interval, on the intervals so far, with 50 operations on each path."""
    e = x_new + x_old
    n = n_new + n_old
    pi = np.divide(n_new, n, out=np.zeros(len(n)), where=n > 0)
    ll = np.cumsum(loglik(x_new, e, pi), axis=0)
    log_r, log_w = grid()
    up = log_r > 0
    plus = _logsumexp(ll[:, up] - ll[:, [len(log_r) // 2]] + (log_w[up] - _logsumexp(log_w[up])))
    enough = np.minimum(np.cumsum(n_new), np.cumsum(n_old)) >= 50
    return bool(np.any((plus >= math.log(1 / ALPHA)) & enough))


def simulate(rng, share: np.ndarray, p_new: np.ndarray, p_old: np.ndarray, ops: int):
    n_new = rng.binomial(ops, share)
    n_old = ops - n_new
    return n_new, rng.binomial(n_new, p_new), n_old, rng.binomial(n_old, p_old)


def alarm_row(rng, figure: str, canaries: int, share, p, ops: int) -> dict:
    """Equal paths (error rate p per interval on both), the new path's share per interval: how many canaries the
    verdict ever called a regression, now and as it stood, on the very same counts."""
    now = before = 0
    for _ in range(canaries):
        counts = simulate(rng, share, p, p, ops)
        now += stratified_alarm(*counts)
        before += pooled_msprt_alarm(*counts)
    return {"figure": figure, "now": rate_cell(now, canaries), "before": rate_cell(before, canaries),
            "goal": f"<= {ALPHA:.0%}"}


def aa_rows(rng, canaries: int, minutes: int) -> list[dict]:
    looks = minutes * 60 // BUCKET
    return [alarm_row(rng, f"A/A false regressions, new path at {pct} % ({minutes} min, 200 ops/5 s)", canaries,
                      np.full(looks, pct / 100), np.full(looks, 0.005), 200) for pct in (1, 5, 25, 50, 90, 99)]


def outage_rows(rng, canaries: int) -> list[dict]:
    looks = 30 * 60 // BUCKET  # half an hour
    t = np.arange(looks)
    splits = {"drifting 2.5-7.5 %": 0.05 + 0.025 * np.sin(2 * np.pi * t / 120),
              "on/off 7.5 % / 0 % every 2 min": np.where((t // 24) % 2 == 0, 0.075, 0.0),
              "idle 10 min, then 5 %": np.where(t < 120, 0.0, 0.05)}
    p = np.full(looks, 0.002)
    p[120:126] = 0.2  # 30 s of 20 % errors on both paths at minute 10
    return [alarm_row(rng, f"A/A with a shared outage, split {name}: blamed on the new path", canaries, share, p,
                      400) for name, share in splits.items()]


def gate_row(rng, canaries: int) -> dict:
    """How often a 2x regression at 0.05 % reaches "no regression detected" within two hours."""
    looks = 2 * 3600 // BUCKET
    passed = old_passed = 0
    for _ in range(canaries):
        n_new, x_new, n_old, x_old = simulate(rng, np.full(looks, 0.01), np.full(looks, 0.001),
                                              np.full(looks, 0.0005), 10_000)
        # "No regression detected" needs the upper bound below the margin: checked every 5 minutes (it only
        # tightens with data; a regression call that comes first keeps it from passing).
        for k in range(59, looks, 60):
            v = error_verdict_strata(n_new[:k + 1], x_new[:k + 1], n_old[:k + 1], x_old[:k + 1], alpha=ALPHA,
                                     min_operations=500)
            if v.verdict == "regression":
                break
            if v.verdict == "no regression detected":
                passed += 1
                break
        # Before: "no regression detected" at the first look with 500 ops on each path, unless already a regression.
        first = int(np.argmax(np.cumsum(n_new) >= 500))
        old_passed += not pooled_msprt_alarm(n_new[:first + 1], x_new[:first + 1], n_old[:first + 1],
                                             x_old[:first + 1])
    return {"figure": "verdict gate passing a 2x regression at 0.05 % (1 % share, 2 000 ops/s, 2 h)",
            "now": rate_cell(passed, canaries), "before": rate_cell(old_passed, canaries), "goal": "<= 5 %"}


# ---- the real monitor and policy in virtual time --------------------------------------------------------------------
POLICY_PLAN = """\
[gate]
min_stage_seconds = 0
[metrics]
source = "jsonl"
path = "ops.jsonl"
window_seconds = 300
[verdict]
latency = false
[alerts.auto_rollback]
mode = "{mode}"
error_rate_above = 0.05
for_seconds = 60
window_seconds = 30
on_regression = true
"""


async def open_monitor(directory: Path, mode: str):
    from _common import write_plan

    from mdm_console.engine.core import Engine
    from mdm_console.engine.live import LiveMonitor
    from mdm_console.plan.load import load_plan

    e = await Engine.open(load_plan(write_plan(directory, POLICY_PLAN.format(mode=mode))), record_start="bench")
    await e.rollout.ensure_flag_file()
    m = LiveMonitor(e, system=False)
    e.health = m
    return e, m


def at(t: float) -> datetime:
    return datetime.fromtimestamp(t, UTC)


def began(e, comp: str, t: float) -> None:
    e.state.components[comp].stage_since = at(t).isoformat()


def old_rule(m, comp: str, t: float, since: dict) -> bool:
    """The rule as it stood, on the same windows: error rate over 5 %, or raw p99 ratio over 20 % with 50 ops on
    each path, one timer for both, 60 s."""
    new, old = m.windows.path(comp, "new", t, 30), m.windows.path(comp, "old", t, 30)
    hit = (new.ops >= 20 and new.error_rate > 0.05) or (
        new.ops >= 50 and old.ops >= 50 and new.p99_ms and old.p99_ms and new.p99_ms / old.p99_ms - 1 > 0.2)
    if not hit:
        since.pop(comp, None)
        return False
    return t - since.setdefault(comp, t) >= 60


def promql_samples(rng: random.Random, t: float, per_s: dict[str, float], p_err: float):
    """One PromQL poll's samples, made by PromQLFeed's own answer handling from a scripted answer stream: each
    path's rate, its error ratio and its p99 as a Prometheus server would answer them for the last 5 s."""
    from mdm_console.feeds.promql import PromQLFeed
    from mdm_console.plan.models import PromQLQueries

    answers = {}
    for variant, rate in per_s.items():
        n = max(1, int(rate * BUCKET))
        lat = sorted(2000.0 if rng.random() < 0.005 else 5.0 * rng.lognormvariate(0, 1.5) for _ in range(n))
        errors = sum(rng.random() < p_err for _ in range(n))
        answers[("ops", variant)] = rate
        answers[("err", variant)] = errors / n
        answers[("p99", variant)] = lat[min(n - 1, int(0.99 * n))]
    feed = PromQLFeed("http://127.0.0.1:9", {"storage": PromQLQueries(
        operations_rate='ops{v="$variant"}', error_rate='err{v="$variant"}', latency_p99_ms='p99{v="$variant"}')},
        lambda s: None, BUCKET)
    feed.query = lambda q: answers[(q.split("{")[0], q.split('"')[1])]
    return feed.poll(t)


async def healthy_policy_rows(hours: float, seed: int) -> list[dict]:
    rows = []
    for source in ("jsonl", "promql"):
        rng = random.Random(seed)
        directory = Path(tempfile.mkdtemp(prefix="mdm-judgment-"))
        try:
            e, m = await open_monitor(directory, "prompt")
            await e.rollout.advance("storage", override="benchmark")
            await e.rollout.advance("storage", override="benchmark")  # 25 %
            seconds = int(hours * 3600)
            start = (int(time.time()) - seconds - 600) // BUCKET * BUCKET
            began(e, "storage", start - 1)
            old_fired, since = 0, {}
            for k in range(seconds // BUCKET):
                t0 = start + k * BUCKET
                if source == "jsonl":
                    for variant, n in (("new", 37), ("old", 113)):  # 30 ops/s, 25 % new
                        for i in range(n):
                            lat = 2000.0 if rng.random() < 0.005 else 5.0 * rng.lognormvariate(0, 1.5)
                            m.windows.add_op(t0 + BUCKET * i / n, "storage", rng.random() >= 0.005, lat, variant)
                else:
                    for s in promql_samples(rng, t0 + BUCKET - 0.5, {"new": 7.5, "old": 22.5}, 0.005):
                        m.windows.add(s)
                for dt in range(BUCKET):
                    t = t0 + dt + 1
                    if k * BUCKET + dt < 30:
                        continue
                    if dt == BUCKET - 1:
                        await m.judge_verdicts(t)
                    await m._auto_rollback(at(t))
                    if old_rule(m, "storage", t, since):
                        old_fired += 1
                        since.clear()  # the old policy fired (and would have rolled back): counted, re-armed
            proposals = sum(ev.kind == "rollback.proposed" for ev in await e.events())
            await e.close()
        finally:
            shutil.rmtree(directory, ignore_errors=True)
        rows.append({"figure": f"false rollbacks per 100 healthy canary-hours ({source}, {hours:g} h simulated)",
                     "now": f"{100 * proposals / hours:.1f} ({proposals} in {hours:g} h)",
                     "before": f"{100 * old_fired / hours:.1f} ({old_fired} in {hours:g} h)", "goal": "0"})
    return rows


async def fault_run(rng: random.Random, fault: tuple[str, float]) -> dict:
    """One canary: 10 healthy minutes at 5 % of 400 ops/s, then the new path's error rate becomes `fault`."""
    directory = Path(tempfile.mkdtemp(prefix="mdm-judgment-"))
    try:
        e, m = await open_monitor(directory, "auto")
        await e.rollout.advance("storage", override="benchmark")
        start = (int(time.time()) - 4000) // BUCKET * BUCKET
        began(e, "storage", start - 1)
        fault_at = start + 600
        out = {"now": None, "threshold": None, "flagger": None, "reason_true": None}
        thr_since, flagger_fails = None, 0
        for k in range(3000 // BUCKET):
            t0 = start + k * BUCKET
            p_new = fault[1] if t0 >= fault_at else 0.005
            for variant, n, p in (("new", 100, p_new), ("old", 1900, 0.005)):
                for i in range(n):
                    m.windows.add_op(t0 + BUCKET * i / n, "storage", rng.random() >= p, 10.0, variant)
            for dt in range(BUCKET):
                t = t0 + dt + 1
                if dt == BUCKET - 1:
                    await m.judge_verdicts(t)
                if out["now"] is None:
                    await m._auto_rollback(at(t))
                    if "rollback.proposed" in e.state.last:
                        p = next(ev for ev in await e.events() if ev.kind == "rollback.proposed").payload
                        out["now"] = t - fault_at
                        holds = p["criterion"] in m.criteria("storage", at(t)) or p["criterion"] == "verdict"
                        out["reason_true"] = holds and p["held_s"] <= (t - fault_at) + 30
                new = m.windows.path("storage", "new", t, 30)
                if out["threshold"] is None:
                    if new.ops >= 20 and new.error_rate > 0.05:
                        thr_since = t if thr_since is None else thr_since
                        if t - thr_since >= 60:
                            out["threshold"] = t - fault_at
                    else:
                        thr_since = None
                if out["flagger"] is None and (t - start) % 60 == 0:
                    last = m.windows.path("storage", "new", t, 60)
                    flagger_fails = flagger_fails + 1 if last.ops and (1 - last.error_rate) < 0.99 else 0
                    if flagger_fails >= 5:
                        out["flagger"] = t - fault_at
            if all(v is not None for v in (out["now"], out["threshold"], out["flagger"])) or t - fault_at > 2400:
                break
        await e.close()
        return out
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def seconds_cell(values: list) -> str:
    done = sorted(v for v in values if v is not None and v >= 0)
    early = sum(1 for v in values if v is not None and v < 0)
    missed = sum(v is None for v in values)
    if not done:
        return f"never within 40 min ({missed} of {len(values)})" + (f", {early} before the fault" if early else "")
    med = done[len(done) // 2]
    return (f"median {med:.0f} s (range {done[0]:.0f}-{done[-1]:.0f})"
            + (f", {missed} of {len(values)} never" if missed else "") + (f", {early} before the fault" if early else ""))


async def fault_rows(runs: int, seed: int) -> list[dict]:
    rows, reasons = [], []
    for name, p in (("2x (1 %)", 0.01), ("5x (2.5 %)", 0.025), ("10 %", 0.10)):
        rng = random.Random(seed)
        results = [await fault_run(rng, (name, p)) for _ in range(runs)]
        reasons += [r["reason_true"] for r in results if r["now"] is not None]
        rows.append({"figure": f"fault {name} on the new path (base 0.5 %, 5 % of 400 ops/s): fault to decision",
                     "now": seconds_cell([r["now"] for r in results]),
                     "before": f"threshold rule: {seconds_cell([r['threshold'] for r in results])}; Flagger-style: "
                               f"{seconds_cell([r['flagger'] for r in results])}", "goal": "-"})
    rows.append({"figure": "recorded reasons naming the criterion that held", "now": rate_cell(sum(reasons),
                 len(reasons)), "before": "-", "goal": "100 %"})
    return rows


def main() -> None:
    args = parse_args(canary_hours=10.0, aa_canaries=2000, aa_minutes=60, fault_runs=8, seed=7)
    rng = np.random.default_rng(args.seed)
    rows = []
    began_at = time.perf_counter()
    rows += asyncio.run(healthy_policy_rows(args.canary_hours, args.seed))
    rows += aa_rows(rng, args.aa_canaries, args.aa_minutes)
    rows += outage_rows(rng, args.aa_canaries)
    rows.append(gate_row(rng, max(50, args.aa_canaries // 4)))
    rows += asyncio.run(fault_rows(args.fault_runs, args.seed))
    rows.append({"figure": "run time", "now": f"{time.perf_counter() - began_at:.0f} s", "before": "-", "goal": "-"})
    if args.json:  # the shape benchmarks/run.py reads: the value now, the baseline the rule as it stood
        emit([{"figure": r["figure"], "value": r["now"], "unit": "", "goal": r["goal"], "baseline": r["before"],
               "ratio": "same run", "how": "seeded simulation (see the script's docstring)"} for r in rows], True)
        return
    for r in rows:
        print(r["figure"])
        print(f"    now:    {r['now']}")
        print(f"    before: {r['before']}")
        print(f"    goal:   {r['goal']}")


if __name__ == "__main__":
    main()
