"""Themes are data: TOML files of Textual `Theme` fields, shipped inside the wheel."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path

from textual.theme import Theme

DEFAULT_THEME = "mdm-dark"


def _theme_dir() -> Path:
    packaged = resources.files("mdm_console").joinpath("themes")
    if packaged.is_dir():  # a wheel install: hatch force-includes themes/ here
        return Path(str(packaged))
    return Path(__file__).resolve().parents[2] / "themes"  # a source checkout


def load_themes() -> list[Theme]:
    themes = []
    for path in sorted(_theme_dir().glob("*.toml")):
        themes.append(Theme(**tomllib.loads(path.read_text("utf-8"))))
    return themes
