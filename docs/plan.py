"""Write docs/plan.md from the plan's models, so the plan reference cannot drift."""

from pathlib import Path

from mdm_console.plan.schema import markdown

Path(__file__).with_name("plan.md").write_text(markdown())
