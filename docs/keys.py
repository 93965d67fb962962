"""Write docs/keys.md from the bindings in the code, so the key reference cannot drift."""

from pathlib import Path

from mdm_console.ui.keydocs import render

Path(__file__).with_name("keys.md").write_text(render())
