"""Themes are data: TOML files turned into Textual `Theme` objects.

Bundled themes live in the repository's `themes/` folder (copied into the package's data
when installed); a user's own go in `<config dir>/flowtui/themes/*.toml` and win on a name
clash.  A broken theme file is reported, never fatal.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import platformdirs
from textual.theme import Theme

BUNDLED_DIR = Path(__file__).resolve().parent.parent.parent / "themes"
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
    path: Path
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}"


def user_theme_dir() -> Path:
    return Path(platformdirs.user_config_dir("flowtui")) / "themes"


def theme_from_file(path: Path) -> Theme:
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    name = data.get("name") or path.stem
    if "primary" not in data:
        raise ValueError("a theme needs at least `primary`")
    unknown = set(data) - {"name", "dark", "variables", *_COLOUR_KEYS}
    if unknown:
        raise ValueError(f"unknown key(s): {', '.join(sorted(unknown))}")
    colours = {k: str(data[k]) for k in _COLOUR_KEYS if k in data}
    variables = {str(k): str(v) for k, v in dict(data.get("variables", {})).items()}
    return Theme(name=str(name), dark=bool(data.get("dark", True)), variables=variables, **colours)


def load_themes(*folders: Path) -> tuple[list[Theme], list[ThemeProblem]]:
    """Themes from each folder in order (later folders override earlier ones by name)."""
    found: dict[str, Theme] = {}
    problems: list[ThemeProblem] = []
    for folder in folders or (BUNDLED_DIR, user_theme_dir()):
        if not folder.is_dir():
            continue
        for path in sorted(folder.glob("*.toml")):
            try:
                theme = theme_from_file(path)
            except (OSError, ValueError, TypeError, tomllib.TOMLDecodeError) as exc:
                problems.append(ThemeProblem(path, str(exc)))
                continue
            found[theme.name] = theme
    return list(found.values()), problems
