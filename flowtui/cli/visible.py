"""Step output made safe for a terminal: control characters shown, not obeyed.

What a step prints (and names built from matrix values) reaches `flowtui run`, `logs` and
`show`.  Written raw, an OSC sequence retitles the terminal, `ESC c` resets it, a carriage
return overwrites what was printed before, and U+202E reverses the text that follows.
`visible` shows each such character as a symbol instead (ESC as ␛, CR as ␍, BEL as ␇, a
direction mark as <U+202E>), like the dashboard does; colour sequences (SGR, `ESC[…m`)
change nothing but colours and pass through, and so do the OSC 8 hyperlinks flowtui makes
(exactly `flowtui://run/N[/step/S]` or `$FLOWTUI_WEB_URL#run=N[&step=S]`, whole:
flowtui/cli/links.py; a step printing one can only link to a run).  `--raw` keeps the bytes.

Where stdout is not a terminal (a pipe, a file: `flowtui logs 3 > out.txt`), colour
sequences are removed as well, as `kubectl logs` and GitHub's log download do: what is kept
is the text (`--raw` still keeps every byte).
"""

from __future__ import annotations

import contextlib
import functools
import re
import sys
from collections.abc import Iterator
from typing import TextIO

from flowtui.cli.links import trusted_targets
from flowtui.overprint import last_overprint

_SGR = re.compile(r"\x1b\[[0-9;]*m")
# C0 but tab and newline, DEL, C1, and the marks that change the direction of text
_UNSAFE = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")


def _symbol(match: re.Match[str]) -> str:
    code = ord(match.group())
    if code < 0x20:
        return chr(0x2400 + code)  # Unicode's control pictures: ␛ ␍ ␇ …
    if code == 0x7F:
        return "\u2421"  # ␡
    return f"<U+{code:04X}>"


@functools.lru_cache(maxsize=4)
def _kept(targets: str) -> re.Pattern[str]:
    """Colours, and whole OSC 8 links whose whole target matches `targets`: opener, plain
    text, closer."""
    link = rf"\x1b\]8;(?:id=\d+)?;(?:{targets})\x1b\\[^\x00-\x1f\x7f-\x9f]*\x1b\]8;;\x1b\\"
    return re.compile(f"{_SGR.pattern}|{link}")


def visible(text: str) -> str:
    """`text` with every control character but tab, newline, colours and flowtui's own
    links made visible."""
    if not _UNSAFE.search(text):
        return text
    out: list[str] = []
    position = 0
    for colour in _kept(trusted_targets()).finditer(text):
        out.append(_UNSAFE.sub(_symbol, text[position : colour.start()]))
        out.append(colour.group())
        position = colour.end()
    out.append(_UNSAFE.sub(_symbol, text[position:]))
    return "".join(out)


def step_text(line: str, out: TextIO | None = None) -> str:
    """A step's stdout/stderr line (never flowtui's own system lines, which may end in a
    step's words) as `out` (stdout by default) shows it: through `visible`, a line
    rewritten by carriage returns (a progress bar) is its last text, as CI logs show it
    (flowtui/overprint.py) — cut here, where flowtui's prefix is not yet before it; with
    `--raw` every byte as printed."""
    return last_overprint(line) if _filtered(out or sys.stdout) else line


def _filtered(out: object) -> bool:
    """Whether `out` writes through `visible`, under the streams that wrap it (the inline
    approval's `AbovePrompt`)."""
    for _ in range(4):
        if isinstance(out, VisibleWriter):
            return True
        out = getattr(out, "_inner", None)
        if out is None:
            return False
    return False


def plain(text: str) -> str:
    """`visible(text)` without colour sequences: for a pipe or a file."""
    return visible(_SGR.sub("", text)) if "\x1b" in text else visible(text)


class VisibleWriter:
    """A text stream that writes `visible(text)` (`plain(text)` if `colourless`) to the
    stream it wraps."""

    def __init__(self, inner: TextIO, colourless: bool = False) -> None:
        self._inner = inner
        self.colourless = colourless

    def write(self, text: str) -> int:
        self._inner.write(plain(text) if self.colourless else visible(text))
        return len(text)

    def __getattr__(self, name: str) -> object:  # flush, isatty, fileno, encoding, …
        return getattr(self._inner, name)

    @property
    def inner(self) -> TextIO:
        return self._inner


def terminal_of(stream: TextIO) -> TextIO:
    """The stream under a `VisibleWriter`: where flowtui's own drawing (the live footer's
    cursor moves) goes, while step output keeps passing through `visible`."""
    if isinstance(stream, VisibleWriter):
        return stream.inner
    return stream


def same_filter(like: TextIO, stream: TextIO) -> TextIO:
    """`stream`, through `visible` when `like` was."""
    if isinstance(like, VisibleWriter):
        return VisibleWriter(stream, like.colourless)  # type: ignore[return-value]  # a TextIO in all it is used for
    return stream


@contextlib.contextmanager
def visible_stdout(enabled: bool = True) -> Iterator[None]:
    """While inside, everything printed to stdout goes through `visible` (and loses its
    colours where stdout is not a terminal)."""
    if not enabled:
        yield
        return
    saved = sys.stdout
    sys.stdout = VisibleWriter(saved, colourless=not _is_terminal(saved))
    try:
        yield
    finally:
        sys.stdout = saved


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or stand-in stream
        return False
