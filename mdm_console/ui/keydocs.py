"""Keys as people type them (`?`, `]`, `/`, `ctrl+c`), for the help modal and for docs/keys.md, which is generated
from the bindings in the code (`python docs/keys.py`; a test fails when the file and the code disagree)."""

from __future__ import annotations

from textual.binding import Binding
from textual.keys import key_to_character

NAMED = {"slash": "/", "backslash": "\\", "space": "space", "minus": "-", "plus": "+", "comma": ",",
         "full_stop": ".", "colon": ":", "semicolon": ";", "equals_sign": "="}


def typed(key: str) -> str:
    """`question_mark` -> `?`, `ctrl+c,super+c` -> `ctrl+c / super+c`, `right_square_bracket` -> `]`."""
    out = []
    for alt in (a.strip() for a in key.split(",") if a.strip()):
        *mods, base = alt.split("+") if alt != "+" else ["+"]
        ch = NAMED.get(base) or (key_to_character(base) if len(base) > 1 else base) or base
        if not ch.isprintable() or ch.isspace():
            ch = base  # escape, enter, tab: their names are how people say them
        out.append("+".join([*mods, ch]))
    return " / ".join(dict.fromkeys(out))


def render() -> str:
    """docs/keys.md."""
    from mdm_console.ui.app import ConsoleApp
    from mdm_console.ui.modals.confirm import ConfirmModal
    from mdm_console.ui.modals.export import ExportModal
    from mdm_console.ui.modals.help import HelpModal
    from mdm_console.ui.modals.reason import ReasonModal
    from mdm_console.ui.modals.rollback_wizard import RollbackWizard
    from mdm_console.ui.modals.signoff import SignoffModal
    from mdm_console.ui.screens.checklist import ChecklistScreen
    from mdm_console.ui.screens.dashboard import DashboardScreen
    from mdm_console.ui.screens.rollout import RolloutScreen
    from mdm_console.ui.screens.session_log import SessionLogScreen
    from mdm_console.ui.screens.validation import ValidationScreen

    out = ["# Key reference", "",
           "Generated from the bindings in the code (`python docs/keys.py` rewrites it; a test fails when it is out",
           "of date). Keys are shown as you type them. Every binding has an id; rebind any of them in",
           "`~/.config/mdm-console/keymap.toml` (the help, `?`, then shows your keys):", "", "```toml", "[keys]",
           '"rollout.advance" = "A"', '"app.rollback" = "ctrl+r"', "```", ""]

    def table(title: str, bindings: list[Binding], extra: tuple[str, ...] = ()) -> None:
        out.extend([f"## {title}", "", "| key | binding id | does |", "|---|---|---|"])
        out.extend(f"| `{typed(b.key)}` | `{b.id}` | {b.description} |" for b in bindings)
        out.extend(extra)
        out.append("")

    table("Anywhere", ConsoleApp.BINDINGS, ("| `ctrl+p` | (Textual) | command palette: every action, built from the "
                                            "current state |", "| `up` / `down` | (Textual) | select in lists |"))
    for title, cls in [("1 Dashboard", DashboardScreen), ("2 Rollout", RolloutScreen),
                       ("3 Validation", ValidationScreen), ("4 Checklist", ChecklistScreen),
                       ("5 Session log", SessionLogScreen), ("Rollback wizard", RollbackWizard),
                       ("Export", ExportModal), ("Sign-off", SignoffModal), ("Confirmations", ConfirmModal),
                       ("Reasons and notes", ReasonModal), ("Help", HelpModal)]:
        if cls.__dict__.get("BINDINGS"):  # its own; Textual's (tab, copy) are Textual's, the same everywhere
            table(title, cls.__dict__["BINDINGS"])
        else:
            out.extend([f"## {title}", "", "The app's keys; `up`/`down` select a component (the plots follow).", ""])
    return "\n".join(out) + "\n"


def bindings_without_id() -> list[str]:
    """Every binding of ours that has no id (none should)."""
    import importlib
    import pkgutil

    import mdm_console.ui as ui

    missing = []
    for mod in pkgutil.walk_packages(ui.__path__, "mdm_console.ui."):
        m = importlib.import_module(mod.name)
        for name, obj in vars(m).items():
            if isinstance(obj, type) and obj.__module__ == m.__name__:
                for b in obj.__dict__.get("BINDINGS", []):
                    if isinstance(b, Binding) and not b.id:
                        missing.append(f"{m.__name__}.{name}: {b.key}")
    return missing
