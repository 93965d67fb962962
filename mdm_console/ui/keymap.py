"""The user's keymap (`~/.config/mdm-console/keymap.toml`, `[keys]` binding id -> keys), checked before use.

A file that does not parse, a value that is not a key, an id no binding has, or a key another binding of
the same screen (or the app) already uses is reported with the file named; the console starts with the
default keys for whatever was refused and says so in a notice.
"""

from __future__ import annotations

import importlib
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from textual.binding import Binding

# Where bindings live: the app's keys are active on every screen, each screen's and modal's only there.
SCOPES = {
    "app": "mdm_console.ui.app:ConsoleApp",
    "dashboard": "mdm_console.ui.screens.dashboard:DashboardScreen",
    "rollout": "mdm_console.ui.screens.rollout:RolloutScreen",
    "validation": "mdm_console.ui.screens.validation:ValidationScreen",
    "checklist": "mdm_console.ui.screens.checklist:ChecklistScreen",
    "log": "mdm_console.ui.screens.session_log:SessionLogScreen",
    "confirm": "mdm_console.ui.modals.confirm:ConfirmModal",
    "reason": "mdm_console.ui.modals.reason:ReasonModal",
    "export": "mdm_console.ui.modals.export:ExportModal",
    "help": "mdm_console.ui.modals.help:HelpModal",
    "wizard": "mdm_console.ui.modals.rollback_wizard:RollbackWizard",
    "signoff": "mdm_console.ui.modals.signoff:SignoffModal",
}


# Keys the widgets themselves use (tables, inputs, the palette, quitting): a binding moved onto one of
# them would be swallowed by the focused table or would take it away.
RESERVED = frozenset({"up", "down", "left", "right", "pageup", "pagedown", "home", "end", "tab", "shift+tab",
                      "enter", "ctrl+c", "ctrl+p", "ctrl+q"})


@dataclass
class Keymap:
    keys: dict[str, str] = field(default_factory=dict)  # what is applied
    problems: list[str] = field(default_factory=list)  # what was refused, and why


def keymap_path() -> Path:
    import platformdirs

    return platformdirs.user_config_path("mdm-console") / "keymap.toml"


def bindings_by_scope() -> dict[str, list[Binding]]:
    out = {}
    for scope, ref in SCOPES.items():
        module, name = ref.split(":")
        cls = getattr(importlib.import_module(module), name)
        out[scope] = [b for b in getattr(cls, "BINDINGS", []) if isinstance(b, Binding) and b.id]
    return out


def load_keymap(path: Path | None = None) -> Keymap:
    path = path or keymap_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return Keymap()
    except (OSError, UnicodeDecodeError) as exc:
        return Keymap(problems=[f"{path}: cannot be read ({getattr(exc, 'strerror', None) or exc}); default keys"])
    try:
        table = tomllib.loads(text).get("keys", {})
    except tomllib.TOMLDecodeError as exc:
        return Keymap(problems=[f"{path}: {exc}; default keys"])
    if not isinstance(table, dict):
        return Keymap(problems=[f"{path}: [keys] must be a table of binding id = \"keys\"; default keys"])
    return check(table, bindings_by_scope(), str(path))


def check(table: dict, scopes: dict[str, list[Binding]], where: str = "keymap") -> Keymap:
    """Apply what is sound: known ids, string keys, no key taken twice within a scope (or with the app)."""
    result = Keymap()
    owner = {b.id: scope for scope, bs in scopes.items() for b in bs}
    wanted: dict[str, str] = {}
    for bid, keys in table.items():
        if bid not in owner:
            result.problems.append(f"{where}: unknown binding id '{bid}' (see docs/keys.md)")
        elif not isinstance(keys, str) or not [k for k in keys.split(",") if k.strip()]:
            result.problems.append(f"{where}: {bid}: keys must be a string such as \"A\" or \"ctrl+a,f5\"")
        elif reserved := sorted(RESERVED & {k.strip() for k in keys.split(",")}):
            result.problems.append(f"{where}: {bid} = \"{keys}\": {', '.join(reserved)} is used by the tables "
                                   "and inputs themselves; kept the default")
        else:
            wanted[bid] = ",".join(k.strip() for k in keys.split(",") if k.strip())

    def effective(b: Binding) -> set[str]:
        return {k.strip() for k in wanted.get(b.id, b.key).split(",")}

    for bid, keys in wanted.items():
        scope = owner[bid]
        rivals = scopes[scope] + (scopes["app"] if scope != "app" else
                                  [b for s, bs in scopes.items() if s != "app" for b in bs])
        clash = next(((b.id, k) for b in rivals if b.id != bid for k in set(keys.split(",")) & effective(b)), None)
        if clash:
            result.problems.append(f"{where}: {bid} = \"{keys}\": the key {clash[1]} is already {clash[0]}'s; "
                                   "kept the default")
        else:
            result.keys[bid] = keys
    return result
