"""`check-metrics`: what the console would make of a sample of an application's metrics, line by line.

The same parsers the feeds use (`parse_line`, the Prometheus text parser) judge each JSONL line or each
exposition sample: taken (as what), taken without a variant (counted as "variant unknown": gates and
alerts on the new path cannot use it), or refused (with the reason the feed would count it under).
"""

from __future__ import annotations

import math
import time
from collections import Counter
from dataclasses import asdict, dataclass, field

from mdm_console.feeds.parse import BadLine, parse_line


class AnyComponent(frozenset):
    """No plan to check component names against: every name is taken."""

    def __contains__(self, item: object) -> bool:
        return isinstance(item, str)


@dataclass
class Verdict:
    where: str  # "line 3" or a series name
    status: str  # ok | no-variant | bad | note
    text: str  # what the console makes of it, or why not


@dataclass
class CheckReport:
    source: str
    kind: str  # jsonl | prometheus
    verdicts: list[Verdict] = field(default_factory=list)
    taken: Counter = field(default_factory=Counter)  # (component, path) -> operations

    @property
    def counts(self) -> dict[str, int]:
        c = Counter(v.status for v in self.verdicts)
        return {k: c.get(k, 0) for k in ("ok", "no-variant", "bad")}

    @property
    def ok(self) -> bool:
        counts = self.counts
        return counts["bad"] == 0 and counts["no-variant"] == 0 and counts["ok"] > 0

    def summary(self) -> list[str]:
        counts = self.counts
        out = [f"{self.source} ({self.kind}): {counts['ok']} usable, {counts['no-variant']} without a variant, "
               f"{counts['bad']} refused"]
        for (comp, path), n in sorted(self.taken.items()):
            out.append(f"  {comp}: {n} operations on the {path} path" if path != "unknown" else
                       f"  {comp}: {n} operations with no variant (variant unknown)")
        if counts["no-variant"]:
            out.append("Operations without a variant are counted as 'variant unknown': the gates and the "
                       "auto-rollback policy judge the new path and cannot use them. Add \"variant\": \"new\" | \"old\" "
                       "(JSONL) or a variant label (Prometheus).")
        if not counts["ok"] and not counts["no-variant"]:
            out.append("Nothing in this sample would reach the console's windows.")
        return out

    def as_dict(self) -> dict:
        return {"source": self.source, "kind": self.kind, "ok": self.ok, "counts": self.counts,
                "operations": [{"component": c, "path": p, "operations": n} for (c, p), n in sorted(self.taken.items())],
                "verdicts": [asdict(v) for v in self.verdicts]}


PATHS = {"new": "new", "old": "old", "all": "unknown"}


def check_jsonl(source: str, lines: list[bytes], components: frozenset[str] | None) -> CheckReport:
    report = CheckReport(source, "jsonl")
    comps = components if components is not None else AnyComponent()
    now = time.time()
    for n, raw in enumerate(lines, 1):
        if not raw.strip():
            report.verdicts.append(Verdict(f"line {n}", "bad", "an empty line (skipped, not counted)"))
            continue
        try:
            s = parse_line(raw, comps, now)
        except BadLine as exc:
            report.verdicts.append(Verdict(f"line {n}", "bad", str(exc)))
            continue
        path = PATHS[s.variant]
        ops = s.success + s.error
        report.taken[(s.component, path)] += ops
        if s.single:
            what = f"one operation of {s.component}, {'success' if s.success else 'error'}" + (
                f", {s.latency_ms:g} ms" if s.latency_ms is not None else ", no latency (p99 stays '-')")
        else:
            what = f"an aggregate of {s.component}: {s.success} successes, {s.error} errors" + (
                f", reported p99 {s.p99_ms:g} ms" if s.p99_ms is not None else ", no p99")
        if path == "unknown":
            report.verdicts.append(Verdict(f"line {n}", "no-variant", what + "; NO VARIANT: counted as "
                                           "'variant unknown', which gates and the new path's alerts cannot use"))
        else:
            report.verdicts.append(Verdict(f"line {n}", "ok", f"{what}, on the {path} path"))
    return report


def check_prometheus(source: str, text: str, prefix: str, components: frozenset[str] | None) -> CheckReport:
    from prometheus_client.parser import text_string_to_metric_families

    report = CheckReport(source, "prometheus")
    comps = components if components is not None else AnyComponent()
    try:
        families = list(text_string_to_metric_families(text))
    except Exception as exc:  # noqa: BLE001 - the parser raises several types on garbage
        report.verdicts.append(Verdict("exposition", "bad", f"not Prometheus text: {exc}"))
        return report
    ops_name, hist_name = f"{prefix}_operations_total", f"{prefix}_operation_duration_seconds_bucket"
    histograms: dict[tuple[str, str], int] = {}
    for fam in families:
        for s in fam.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            where = f"{s.name}{{{labels}}}"
            if s.name not in (ops_name, hist_name):
                continue
            comp = s.labels.get("component")
            if comp is None:
                report.verdicts.append(Verdict(where, "bad", "no component label: not read"))
                continue
            if comp not in comps:
                report.verdicts.append(Verdict(where, "bad", f"unknown component {comp[:40]!r} (not in the plan)"))
                continue
            if not (math.isfinite(s.value) and s.value >= 0):
                report.verdicts.append(Verdict(where, "bad", f"{s.value} is not a finite count: the scrape is refused"))
                continue
            variant = s.labels.get("variant", "all")
            if variant not in PATHS:
                report.verdicts.append(Verdict(where, "bad", f"variant {variant[:20]!r} is not new or old"))
                continue
            path = PATHS[variant]
            if s.name == hist_name:
                histograms[(comp, path)] = histograms.get((comp, path), 0) + 1
                continue
            outcome = s.labels.get("outcome")
            if outcome not in ("success", "error"):
                report.verdicts.append(Verdict(where, "bad", "outcome label is not success or error: not read"))
                continue
            report.taken[(comp, path)] += int(s.value)
            what = f"{comp} {outcome} counter at {s.value:g} (rates come from its change between scrapes)"
            if path == "unknown":
                report.verdicts.append(Verdict(where, "no-variant", what + "; NO variant label: counted as "
                                               "'variant unknown'"))
            else:
                report.verdicts.append(Verdict(where, "ok", f"{what}, on the {path} path"))
    for (comp, path), n in sorted(histograms.items()):
        report.verdicts.append(Verdict(f"{hist_name} ({comp}, {path})", "note",
                                       f"{n} buckets: the p99 of each scrape interval is read from them"))
    for comp, path in sorted({k for k in report.taken} - set(histograms)):
        report.verdicts.append(Verdict(f"{hist_name} ({comp}, {path})", "note",
                                       "no latency histogram: p99 will show '-' for this path"))
    if not report.verdicts:
        report.verdicts.append(Verdict("exposition", "bad", f"no {ops_name} samples: nothing would be read"))
    return report


def check_promql(feed) -> CheckReport:
    """The plan's own PromQL queries, asked once each (per path where they hold `$variant`): per component and
    query, what came back and what the console makes of it. Blocking: call it in a thread."""
    from mdm_console.feeds.http import FetchError
    from mdm_console.feeds.promql import VARIANT

    report = CheckReport(feed.status.name, "promql")
    units = {"operations_rate": "operations/s", "error_rate": "a ratio", "latency_p99_ms": "ms"}
    for comp, q in feed.queries.items():
        texts = {"operations_rate": q.operations_rate, "error_rate": q.error_rate, "latency_p99_ms": q.latency_p99_ms}
        split = any(VARIANT in t for t in texts.values())
        for variant in (("new", "old") if split else ("all",)):
            path = PATHS[variant]
            rate = None
            for name, text in texts.items():
                where = f"{comp} {path} {name}"
                try:
                    value = feed.query(text.replace(VARIANT, variant))
                except (FetchError, BadLine) as exc:
                    report.verdicts.append(Verdict(where, "bad", f"{exc}: {comp} would have no data"))
                    continue
                if name == "operations_rate":
                    rate = value
                if value is None:
                    status = "bad" if name == "operations_rate" else "note"
                    text_ = ("no series: no data for this path now (not zero)" if name == "operations_rate" else
                             "no series: read as none (no errors / no p99)")
                elif math.isnan(value):
                    quiet = rate is not None and not math.isnan(rate) and rate == 0
                    status = "note" if quiet and name != "operations_rate" else "bad"
                    text_ = ("NaN with no traffic on this path: no data, as expected" if status == "note" else
                             f"NaN: the server had nothing to compute it from; {comp} would have no data")
                else:
                    status = "ok" if path != "unknown" else "no-variant"
                    text_ = f"{value:g} ({units[name]})"
                    if name == "error_rate" and value > 1:
                        status, text_ = "bad", f"{value:g} is above 1: the query must give a ratio"
                    if name == "operations_rate":
                        report.taken[(comp, path)] += int(round(value * feed.status.interval))
                report.verdicts.append(Verdict(where, status, text_))
    return report
