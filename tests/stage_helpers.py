"""Helpers for tests that fill a monitor's windows by hand."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def began(e, comp: str, ago: float) -> None:
    """The component's current stage began `ago` seconds back (the evidence period the monitor judges opens then):
    what a test's hand-made operations, dated up to `ago` s back, need to count as this stage's."""
    e.state.components[comp].stage_since = (datetime.now(UTC) - timedelta(seconds=ago)).isoformat()
