"""Write docs/keys.md from the bindings in the code, so the key reference cannot drift."""

from pathlib import Path

from mdm_console.ui.app import ConsoleApp
from mdm_console.ui.modals.rollback_wizard import RollbackWizard
from mdm_console.ui.screens.checklist import ChecklistScreen
from mdm_console.ui.screens.dashboard import DashboardScreen
from mdm_console.ui.screens.rollout import RolloutScreen
from mdm_console.ui.screens.session_log import SessionLogScreen
from mdm_console.ui.screens.validation import ValidationScreen

out = ["# Key reference", "", "Generated from the bindings in the code (`python docs/keys.py` rewrites it). Every binding",
       "has an id; rebind any of them in `~/.config/mdm-console/keymap.toml`:", "", "```toml", "[keys]",
       '"rollout.advance" = "A"', '"app.rollback" = "ctrl+r"', "```", ""]


def table(title, bindings, extra=()):
    out.extend([f"## {title}", "", "| key | binding id | does |", "|---|---|---|"])
    out.extend(f"| `{b.key}` | `{b.id}` | {b.description} |" for b in bindings)
    out.extend(extra)
    out.append("")


table("Anywhere", ConsoleApp.BINDINGS, ["| `ctrl+p` | (Textual) | command palette: every action, built from the "
                                        "current state |", "| `up` / `down` | (Textual) | select in lists |"])
for title, cls in [("1 Dashboard", DashboardScreen), ("2 Rollout", RolloutScreen), ("3 Validation", ValidationScreen),
                   ("4 Checklist", ChecklistScreen), ("5 Session log", SessionLogScreen),
                   ("Rollback wizard", RollbackWizard)]:
    if getattr(cls, "BINDINGS", None):
        table(title, cls.BINDINGS)
    else:
        out.extend([f"## {title}", "", "The app's keys; `up`/`down` select a component (the plots follow).", ""])
Path(__file__).with_name("keys.md").write_text("\n".join(out) + "\n")
