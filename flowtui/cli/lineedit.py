"""The inline approval's question as a line editor draws it: other output goes above it.

`flowtui run` keeps printing event lines and step output while a question waits on the
terminal's last line. A terminal in its usual (canonical) mode echoes what is typed itself, and
flowtui cannot know it until Enter, so a line printed meanwhile would land on the question's
line, and a question drawn again would lose what was typed. So while `flowtui run` can ask, the
terminal is put in cbreak mode (no canonical input, no echo; signals as usual: Ctrl-C still
cancels) and `PromptLine` keeps the typed text itself, as readline does: it echoes it, handles
erase (Backspace), kill (Ctrl-U), word erase (Ctrl-W) and end of input (Ctrl-D on an empty
line), and `AbovePrompt` prints other output above the question, then draws the question and
the typed text again. Escape sequences (arrow keys) are dropped: there is no cursor movement
within the line. The terminal's mode is restored by `stop` (flowtui run's end).
"""

from __future__ import annotations

import contextlib
import re
import termios
import tty
from typing import Any, TextIO

CLEAR_LINE = "\r\x1b[2K"
# an escape sequence a key sends (CSI / SS3 and a final byte), or a lone ESC
_ESCAPE = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|O.|.)?", re.DOTALL)
EOF = None


class PromptLine:
    """The question on the terminal's last line, and what has been typed after it."""

    def __init__(self, terminal: TextIO, fd: int) -> None:
        self.terminal = terminal  # flowtui's own drawing, past the `visible` filter
        self.fd = fd
        self.prompt: str | None = None  # the question on the screen; None: none shown
        self.typed = ""
        self._saved: list[Any] | None = None  # termios attributes as they were
        self._keys = _special_keys(fd)

    def start(self) -> None:
        """cbreak mode on the terminal `fd` (input as typed, no echo, signals kept)."""
        with contextlib.suppress(termios.error, OSError):
            self._saved = termios.tcgetattr(self.fd)
            tty.setcbreak(self.fd, termios.TCSANOW)

    def stop(self) -> None:
        self.hide()
        if self._saved is not None:
            with contextlib.suppress(termios.error, OSError):
                termios.tcsetattr(self.fd, termios.TCSADRAIN, self._saved)
            self._saved = None

    def show(self, prompt: str) -> None:
        self.prompt = prompt
        self._draw(prompt + self.typed)

    def hide(self) -> None:
        """The question and the typed text off the screen (they are kept)."""
        if self.prompt is not None:
            self._draw(CLEAR_LINE)

    def withdraw(self) -> None:
        """No question any more: its line cleared, what was typed for it dropped."""
        self.hide()
        self.prompt = None
        self.typed = ""

    def redraw(self) -> None:
        if self.prompt is not None:
            self._draw(self.prompt + self.typed)

    def feed(self, text: str) -> list[str | None]:
        """Take typed keys; the lines they end (Enter), EOF for end of input."""
        done: list[str | None] = []
        for key in _ESCAPE.sub("", text):
            if key in ("\r", "\n"):
                done.append(self.typed)
                self.typed = ""
                if self.prompt is not None:
                    self._draw("\n")
                    self.prompt = None  # answered: a next question draws its own
            elif key == self._keys["eof"]:
                if not self.typed:
                    done.append(EOF)
            elif key in (self._keys["erase"], "\x7f", "\b"):
                self._edit(self.typed[:-1])
            elif key == self._keys["kill"]:
                self._edit("")
            elif key == self._keys["werase"]:
                self._edit(re.sub(r"\S*\s*$", "", self.typed))
            elif key.isprintable():
                self.typed += key
                if self.prompt is not None:
                    self._draw(key)
        return done

    def _edit(self, typed: str) -> None:
        if typed != self.typed:
            self.typed = typed
            if self.prompt is not None:
                self._draw(CLEAR_LINE + self.prompt + typed)

    def _draw(self, text: str) -> None:
        self.terminal.write(text)
        self.terminal.flush()


def _special_keys(fd: int) -> dict[str, str]:
    """The terminal's own erase, kill, word-erase and end-of-input keys (stty's)."""
    keys = {"erase": "\x7f", "kill": "\x15", "werase": "\x17", "eof": "\x04"}
    with contextlib.suppress(termios.error, OSError, ValueError):
        chars = termios.tcgetattr(fd)[6]
        for name, index in (
            ("erase", termios.VERASE),
            ("kill", termios.VKILL),
            ("werase", termios.VWERASE),
            ("eof", termios.VEOF),
        ):
            value = chars[index]
            char = value.decode(errors="replace") if isinstance(value, bytes) else chr(value)
            if char not in ("\0", ""):
                keys[name] = char
    return keys


class AbovePrompt:
    """A text stream that prints above the question while one is shown, then draws the
    question again: as a line editor does. Text without its newline yet waits for it (the
    line is printed whole, above)."""

    def __init__(self, inner: TextIO, line: PromptLine) -> None:
        self._inner = inner
        self._line = line
        self._partial = ""

    def write(self, text: str) -> int:
        if self._line.prompt is None and not self._partial:
            return self._inner.write(text)
        self._partial += text
        if self._line.prompt is None:
            text, self._partial = self._partial, ""
            return self._inner.write(text)
        whole, newline, self._partial = self._partial.rpartition("\n")
        if newline:
            self._line.hide()
            self._inner.write(whole + newline)
            self._inner.flush()
            self._line.redraw()
        return len(text)

    def flush(self) -> None:
        self._inner.flush()

    def __getattr__(self, name: str) -> object:  # isatty, fileno, encoding, …
        return getattr(self._inner, name)


__all__ = ["CLEAR_LINE", "EOF", "AbovePrompt", "PromptLine"]
