"""The user's config file, `$XDG_CONFIG_HOME/flowtui/config.toml` (`~/.config/...`):

    theme = "flowtui-light"    # the dashboard's theme; remembered when changed there
    folder = "~/flows"         # the dashboard's folder when none is given
    notify = true              # desktop notifications through the terminal (as --notify)
    [keymap]                   # binding id = keys, e.g. approve = "A" (ids: see `?`)
    approve = "A"

A file that does not parse or holds a wrong value (an unknown theme or binding id too) is
reported with its `file:line`, and the dashboard starts with the defaults for what is wrong;
it shows one short note (the first problem and how many there are), and
`flowtui dashboard --check-config` prints them all.  Nothing in the file is ever lost: the
theme is written back by editing its one line, atomically, the rest kept as it was.
"""

from __future__ import annotations

import difflib
import json
import os
import re
import tempfile
import tomllib
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from pathlib import Path

FILE_MODE = 0o600
_TOML_AT = re.compile(r"\(at line (\d+), column (\d+)\)$")
_TABLE = re.compile(r"^\s*\[")
_THEME_LINE = re.compile(r"^\s*theme\s*=")


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "flowtui" / "config.toml"


@dataclass(frozen=True, slots=True)
class UserConfig:
    """What the file says.  `details` are `file:line: what` for each thing left out;
    `problems` is what the dashboard shows of them: the one problem, or a short summary
    naming the first and how many there are."""

    path: Path | None = None  # None: nothing is written back (tests, no home)
    theme: str | None = None
    folder: Path | None = None
    keymap: dict[str, str] = field(default_factory=dict)
    notify: bool = False
    problems: tuple[str, ...] = ()
    details: tuple[str, ...] = ()
    lines: dict[str, int] = field(default_factory=dict)  # "theme", "keymap.ID" -> line


CHECK_COMMAND = "flowtui dashboard --check-config"


def _summary(path: Path, details: list[str]) -> tuple[str, ...]:
    if not details:
        return ()
    first = details[0]
    if first.startswith(f"{path}:"):
        first = "line " + first[len(f"{path}:") :]
    if len(first) > _TOAST_WIDTH:
        first = first[: _TOAST_WIDTH - 1] + "…"
    if len(details) == 1:
        if len(details[0]) <= _ONE_WIDTH + len(str(path)) + 1:
            return tuple(details)
        return (f"{path.name}: {first} (in full: {CHECK_COMMAND})",)
    return (f"{path.name}: {len(details)} problems — first: {first} (all: {CHECK_COMMAND})",)


_TOAST_WIDTH = 60  # characters of the first problem the dashboard's note shows
_ONE_WIDTH = 120  # a problem alone is shown whole up to this length (after its file)


def known_themes() -> list[str]:
    """The names `theme =` may give: Textual's themes, flowtui's and the user's."""
    from textual.theme import BUILTIN_THEMES

    from flowtui.tui.themes import load_themes

    themes, _ = load_themes()
    return sorted({t.name for t in themes} | set(BUILTIN_THEMES))


def _did_you_mean(word: str, known: Collection[str]) -> str:
    close = difflib.get_close_matches(word, sorted(known), n=1, cutoff=0.7)
    return f"did you mean `{close[0]}`?" if close else "press ? in the dashboard to see the ids"


def unknown_theme(theme: str, names: Collection[str]) -> str:
    """`unknown theme 'nrod'; did you mean `nord`? (themes: …)`."""
    from flowtui.model.checker import suggest  # only for a wrong name

    hint = f"; {close}" if (close := suggest(theme, sorted(names))) else ""
    return f"unknown theme {theme!r}{hint} (themes: {', '.join(sorted(names))})"


def line_of(text: str, key: str, table: str | None = None) -> int:
    """The 1-based line where `key` is set (in `[table]` when given); 1 when not found."""
    current: str | None = None
    for number, line in enumerate(text.splitlines(), 1):
        stripped = line.strip()
        if stripped.startswith("["):
            current = stripped.strip("[] ")
            continue
        if current == table and re.match(rf"^\s*\"?{re.escape(key)}\"?\s*=", line):
            return number
    return 1


def load_config(path: Path | None = None) -> UserConfig:
    """The config at `path` (default: `config_path()`); defaults when it does not exist.

    The keymap's ids and the theme's name are checked by `checked`, which knows them."""
    path = path or config_path()
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return UserConfig(path=path)
    except (OSError, UnicodeDecodeError) as exc:
        problem = (f"{path}: cannot read: {exc}",)
        return UserConfig(path=path, problems=problem, details=problem)
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        message = str(exc)
        at = _TOML_AT.search(message)
        where = f"{path}:{at.group(1)}:{at.group(2)}" if at else str(path)
        reason = _TOML_AT.sub("", message).strip()
        problem = (f"{where}: {reason} (the defaults are used until it is fixed)",)
        return UserConfig(path=path, problems=problem, details=problem)
    found: list[tuple[int, str]] = []

    def wrong(key: str, what: str, table: str | None = None) -> None:
        line = line_of(text, key, table)
        found.append((line, f"{path}:{line}: {key}: {what}"))

    theme = data.get("theme")
    if theme is not None and not isinstance(theme, str):
        wrong("theme", "should be a theme's name in quotes")
        theme = None
    folder = data.get("folder")
    if folder is not None and not isinstance(folder, str):
        wrong("folder", "should be a folder path in quotes")
        folder = None
    notify = data.get("notify", False)
    if not isinstance(notify, bool):
        wrong("notify", "should be true or false (no quotes)")
        notify = False
    keymap: dict[str, str] = {}
    raw_keymap = data.get("keymap", {})
    if not isinstance(raw_keymap, dict):
        wrong("keymap", 'should be a table: [keymap] then lines of binding_id = "keys"')
        raw_keymap = {}
    for binding_id, keys in raw_keymap.items():
        if isinstance(keys, str) and keys.strip():
            keymap[binding_id] = keys
        else:
            wrong(binding_id, 'should be keys in quotes, e.g. "A" or "ctrl+a,A"', "keymap")
    for key in sorted(set(data) - {"theme", "folder", "notify", "keymap"}):
        wrong(key, "unknown setting (known: theme, folder, notify, [keymap])")
    lines = {f"keymap.{b}": line_of(text, b, "keymap") for b in keymap}
    if isinstance(theme, str):
        lines["theme"] = line_of(text, "theme")
    problems = [problem for _, problem in sorted(found, key=lambda item: item[0])]
    return UserConfig(
        path=path,
        theme=theme,
        folder=Path(folder).expanduser() if folder else None,
        keymap=keymap,
        notify=notify,
        problems=_summary(path, problems),
        details=tuple(problems),
        lines=lines,
    )


def checked(
    config: UserConfig, binding_ids: Collection[str], themes: Collection[str] | None = None
) -> UserConfig:
    """`config` without the keymap ids that are not in `binding_ids` and without a theme
    that is not in `themes` (default: `known_themes()`), each said at its line (the
    closest id; the themes listed)."""
    path = config.path
    if path is None:
        return config
    found = list(config.details)
    keymap = dict(config.keymap)
    for binding_id in [b for b in keymap if b not in binding_ids]:
        del keymap[binding_id]
        line = config.lines.get(f"keymap.{binding_id}", 1)
        hint = _did_you_mean(binding_id, binding_ids)
        found.append(f"{path}:{line}: {binding_id}: unknown binding id; {hint}")
    theme = config.theme
    if theme:
        names = known_themes() if themes is None else sorted(themes)
        if theme not in names:
            line = config.lines.get("theme", 1)
            found.append(f"{path}:{line}: theme: {unknown_theme(theme, names)}")
            theme = None
    found.sort(key=lambda problem: line_number(path, problem))
    return replace(
        config, theme=theme, keymap=keymap, problems=_summary(path, found), details=tuple(found)
    )


def line_number(path: Path, problem: str) -> int:
    """The line number a `PATH:LINE: …` problem names (0 when it names none): their order."""
    number = problem[len(f"{path}:") :].split(":", 1)[0]
    return int(number) if number.isdigit() else 0


def with_theme(text: str, theme: str) -> str:
    """`text` with its top-level `theme` set to `theme`: that one line replaced, or a line
    added before the first table; comments and every other line kept."""
    line = f"theme = {json.dumps(theme)}"  # a JSON string is a valid TOML basic string
    lines = text.splitlines()
    first_table = next((i for i, s in enumerate(lines) if _TABLE.match(s)), len(lines))
    for index in range(first_table):
        if _THEME_LINE.match(lines[index]):
            lines[index] = line
            break
    else:
        lines.insert(first_table, line)
    return "\n".join(lines) + "\n"


def remember_theme(path: Path, theme: str) -> None:
    """Write `theme` into the config at `path` (created if missing, mode 0600), atomically:
    a reader sees the old file or the new one, never half of one.

    Raises ValueError when the file does not parse (it is left alone: fix it first) and
    OSError when it cannot be written.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        text = ""
    tomllib.loads(text)  # a broken file is not edited: the error says where it is broken
    new = with_theme(text, theme)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=".config-", suffix=".toml")
    try:
        os.fchmod(fd, FILE_MODE)
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(new)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


__all__ = [
    "CHECK_COMMAND",
    "FILE_MODE",
    "UserConfig",
    "checked",
    "config_path",
    "known_themes",
    "load_config",
    "remember_theme",
    "with_theme",
]
