"""Validation results as a JUnit XML file, for CI systems that show test reports."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

from mdm_console.flags.flagfile import write_atomic
from mdm_console.validators.runner import RunSummary


def to_junit(summary: RunSummary, name: str) -> bytes:
    suite = ET.Element("testsuite", name=f"{name}: {summary.phase}", tests=str(len(summary.results)),
                       failures=str(sum(r["status"] == "failed" for r in summary.results)),
                       errors=str(sum(r["status"] in ("error", "timeout") for r in summary.results)),
                       skipped=str(sum(r["status"] in ("skipped", "cancelled") for r in summary.results)),
                       time=f"{summary.duration_ms / 1000:.3f}")
    for r in summary.results:
        case = ET.SubElement(suite, "testcase", classname=f"{r['batch']}", name=r["id"],
                             time=f"{(r['duration_ms'] or 0) / 1000:.3f}")
        if r["status"] == "failed":
            ET.SubElement(case, "failure", message=r["detail"]).text = r["output_tail"] or r["detail"]
        elif r["status"] in ("error", "timeout"):
            ET.SubElement(case, "error", message=f"{r['status']}: {r['detail']}").text = r["output_tail"] or ""
        elif r["status"] in ("skipped", "cancelled"):
            ET.SubElement(case, "skipped", message=r["detail"])
        else:
            ET.SubElement(case, "system-out").text = r["detail"]
    return ET.tostring(suite, encoding="utf-8", xml_declaration=True)


def write_junit(summary: RunSummary, name: str, path: Path) -> None:
    write_atomic(Path(path), to_junit(summary, name))
