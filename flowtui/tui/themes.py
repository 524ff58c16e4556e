"""Themes are data: TOML files turned into Textual `Theme` objects.

Bundled themes are package data in `flowtui/themes/`, read through `importlib.resources` so
they are found the same way from a checkout, an editable install and a wheel; a user's own go
in `<config dir>/flowtui/themes/*.toml` and win on a name clash.  A broken theme file is
reported, never fatal, and so is a missing bundled folder (a broken install), rather than
silently falling back to Textual's default theme.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from importlib.resources import files
from importlib.resources.abc import Traversable
from pathlib import Path

import platformdirs
from textual.theme import Theme

BUNDLED_DIR: Traversable = files("flowtui") / "themes"
DEFAULT_THEME = "flowtui-dark"
_COLOUR_KEYS = (
    "primary",
    "secondary",
    "accent",
    "warning",
    "error",
    "success",
    "foreground",
    "background",
    "surface",
    "panel",
    "boost",
)


@dataclass(frozen=True, slots=True)
class ThemeProblem:
    path: Traversable
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def user_theme_dir() -> Path:
    return Path(platformdirs.user_config_dir("flowtui")) / "themes"


def theme_from_file(path: Traversable) -> Theme:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    name = data.get("name") or path.name.removesuffix(".toml")
    if "primary" not in data:
        raise ValueError("a theme needs at least `primary`")
    unknown = set(data) - {"name", "dark", "variables", *_COLOUR_KEYS}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    colours = {k: str(data[k]) for k in _COLOUR_KEYS if k in data}
    variables = {str(k): str(v) for k, v in dict(data.get("variables", {})).items()}
    return Theme(
        name=str(name),
        dark=bool(data.get("dark", True)),
        variables=variables,
        primary=colours["primary"],
        secondary=colours.get("secondary"),
        accent=colours.get("accent"),
        warning=colours.get("warning"),
        error=colours.get("error"),
        success=colours.get("success"),
        foreground=colours.get("foreground"),
        background=colours.get("background"),
        surface=colours.get("surface"),
        panel=colours.get("panel"),
        boost=colours.get("boost"),
    )


def load_themes(*folders: Traversable) -> tuple[list[Theme], list[ThemeProblem]]:
    """Themes from each folder in order (later folders override earlier ones by name).

    Without arguments: the bundled themes, then the user's.  A folder that does not exist is
    skipped, except the bundled one, whose absence is reported.
    """
    found: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders or (BUNDLED_DIR, user_theme_dir()):
        if not folder.is_dir():
            if folder is BUNDLED_DIR:
                problems.append(ThemeProblem(folder, "bundled themes missing: reinstall flowtui"))
            continue
        tomls = (p for p in folder.iterdir() if p.name.endswith(".toml") and p.is_file())
        for path in sorted(tomls, key=lambda p: p.name):
            try:
                theme = theme_from_file(path)
            except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            found[theme.name] = theme
    return list(found.values()), problems
