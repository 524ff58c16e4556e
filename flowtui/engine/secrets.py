"""Workflow secrets: reading their values at run start, and masking them in everything shown.

A secret's value lives only in the runner's memory and in its steps' environments.  Every
log line, step message and output passes through a `Masker` before it is published on the
bus, so the store, the console and the dashboard all see `***` instead.  Besides the value
itself the masker knows the forms a script is likely to print it in: base64 (standard and
URL-safe, with or without padding, at each of the three byte alignments it can have inside
a longer encoded text), URL-encoded and JSON-escaped, and each line of a multi-line value.
A `LineMasker` also catches a value the printer split over several lines (`fold`, `base64`
wrapping at 76 columns, a 64 KiB line cut in two).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import json
import os
import re
import stat
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from urllib.parse import quote, quote_plus

from flowtui.model.workflow import Workflow

MASK = "***"
MIN_MASKED = 4  # shorter fragments would blank out ordinary text
MAX_SECRET_BYTES = 64 * 1024


class SecretError(Exception):
    """A secret cannot be read; the message names the secret, never its value."""


# ----------------------------------------------------------------------------- resolving
def resolve_secrets(workflow: Workflow, environ: Mapping[str, str] | None = None) -> dict[str, str]:
    """{NAME: value} for every secret of `workflow`; SecretError names the first bad one."""
    environ = os.environ if environ is None else environ
    values: dict[str, str] = {}
    for name, spec in workflow.secrets.items():
        if spec.source == "env":
            if spec.ref not in environ:
                raise SecretError(f"secret {name}: the environment variable {spec.ref} is not set")
            values[name] = environ[spec.ref]
        else:
            base = workflow.path.parent if workflow.path is not None else Path.cwd()
            values[name] = _read_secret_file(name, base / Path(spec.ref).expanduser())
    return values


def _read_secret_file(name: str, path: Path) -> str:
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW)
    except OSError as exc:
        raise SecretError(f"secret {name}: cannot read {path}: {exc.strerror or exc}") from None
    try:
        info = os.fstat(fd)  # of the file actually opened, not of a path swapped meanwhile
        if not stat.S_ISREG(info.st_mode):
            raise SecretError(f"secret {name}: {path} is not a regular file")
        if info.st_uid != os.getuid():
            raise SecretError(
                f"secret {name}: {path} must be owned by you (uid {os.getuid()}), "
                f"not uid {info.st_uid}"
            )
        mode = stat.S_IMODE(info.st_mode)
        if mode & 0o077:
            raise SecretError(
                f"secret {name}: {path} is readable by others (mode {mode:04o}); "
                f"run: chmod 600 {path}"
            )
        data = os.read(fd, MAX_SECRET_BYTES + 1)
    finally:
        os.close(fd)
    if len(data) > MAX_SECRET_BYTES:
        raise SecretError(f"secret {name}: {path} is larger than {MAX_SECRET_BYTES} bytes")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError:
        raise SecretError(f"secret {name}: {path} is not UTF-8 text") from None
    # `echo token > file` adds a newline that is not part of the secret
    return text.removesuffix("\n").removesuffix("\r")


# ------------------------------------------------------------------------------ masking
def _b64_forms(raw: bytes) -> set[str]:
    forms: set[str] = set()
    for encode in (base64.b64encode, base64.urlsafe_b64encode):
        whole = encode(raw).decode("ascii")
        forms.update((whole, whole.rstrip("=")))
        # inside a longer encoded text the value starts at byte offset 0, 1 or 2 of a
        # 3-byte group; keep only the characters that depend on the value's bytes alone
        for shift in range(3):
            encoded = encode(b"\0" * shift + raw).decode("ascii")
            start = -(-8 * shift // 6)
            end = 8 * (shift + len(raw)) // 6
            forms.add(encoded[start:end])
    return forms


# control characters (C0, DEL, C1, Unicode line breaks): a value they split is masked by
# its pieces too, and in the forms printers give it without them or with them made visible
_CONTROLS = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]+")


def _caret(text: str) -> str:
    """`cat -v`'s rendering of control characters (^M, ^[, ^?, M-^[)."""
    out: list[str] = []
    for char in text:
        code = ord(char)
        if code < 0x20 and char not in "\n\t":
            out.append("^" + chr(code + 64))
        elif code == 0x7F:
            out.append("^?")
        elif 0x80 <= code < 0xA0:
            out.append("M-^" + chr(code - 128 + 64))
        else:
            out.append(char)
    return "".join(out)


def _control_forms(value: str) -> set[str]:
    pieces = _CONTROLS.split(value)
    if len(pieces) < 2:
        return set()
    forms = {piece.strip() for piece in pieces}
    forms.add("".join(pieces))  # a printer or a `tr -d` dropped them
    forms.add("".join(value.splitlines()))  # lines joined again by the line masker
    forms.add(_caret(value))
    forms.add(repr(value)[1:-1])  # Python's escapes: \r, \x1b, \t
    forms.add(value.encode("unicode_escape").decode("ascii"))
    return forms


def secret_forms(value: str) -> set[str]:
    """Every text `value` may be printed as, each at least MIN_MASKED characters long."""
    forms = {value}
    lines = value.splitlines()
    if len(lines) > 1:
        forms.update(line.strip() for line in lines)
    forms.update(_control_forms(value))
    for text in [value, *lines, *_CONTROLS.split(value)]:
        forms.update(_b64_forms(text.encode("utf-8")))
    forms.update(
        (
            quote(value, safe=""),
            quote(value),
            quote_plus(value),
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
        )
    )
    return {f for f in forms if len(f) >= MIN_MASKED}


class Masker:
    """Replaces every known form of the given secret values with `***`."""

    def __init__(self, values: Iterable[str] = ()) -> None:
        forms: set[str] = set()
        for value in values:
            forms |= secret_forms(value)
        self.forms = sorted(forms, key=len, reverse=True)  # longest first: mask the most
        self.longest = len(self.forms[0]) if self.forms else 0
        self._pattern = re.compile("|".join(map(re.escape, self.forms))) if self.forms else None
        self._by_head: dict[str, list[str]] = {}
        for form in self.forms:
            self._by_head.setdefault(form[:MIN_MASKED], []).append(form)

    def __bool__(self) -> bool:
        return self._pattern is not None

    def mask(self, text: str) -> str:
        if self._pattern is None:
            return text
        return self._pattern.sub(MASK, text)

    def mask_map(self, values: Mapping[str, str]) -> dict[str, str]:
        return {key: self.mask(value) for key, value in values.items()}

    def spans(self, text: str) -> list[tuple[int, int]]:
        if self._pattern is None:
            return []
        return [m.span() for m in self._pattern.finditer(text)]

    def pending_prefix(self, text: str) -> int:
        """Length of the longest end of `text` that starts a form (0 if under MIN_MASKED)."""
        tail = text[-(self.longest - 1) :] if self.longest > 1 else ""
        best = 0
        for head, forms in self._by_head.items():
            start = tail.find(head)
            while start != -1 and len(tail) - start > best:
                rest = tail[start:]
                if any(len(f) > len(rest) and f.startswith(rest) for f in forms):
                    best = len(rest)  # the leftmost start that fits is the longest one
                    break
                start = tail.find(head, start + 1)
        return best


Emit = Callable[[str, float], None]


class LineMasker:
    """Masks one output stream line by line, also where a value is split over lines.

    A line that ends with the beginning of a secret form is held back until the next line
    shows whether the form continues there (then both parts are masked), or until `flush`.
    Only lines overlapping such a beginning are held, so at most a secret's length of text.
    """

    def __init__(self, masker: Masker, emit: Emit) -> None:
        self._masker = masker
        self._emit = emit
        self._held: list[tuple[str, float]] = []
        self._context = ""  # the end of the text already emitted, unmasked

    @property
    def holding(self) -> bool:
        return bool(self._held)

    def feed(self, line: str, at: float | None = None) -> None:
        at = time.time() if at is None else at
        if not self._masker:
            self._emit(line, at)
            return
        simple = not self._held and self._masker.pending_prefix(self._context + line) == 0
        if simple and not any(s < len(self._context) for s, _ in self._spans(line)):
            self._context = self._tail(self._context + line)
            self._emit(self._masker.mask(line), at)
            return
        self._held.append((line, at))
        self._settle(final=False)

    def flush(self) -> None:
        if self._held:
            self._settle(final=True)

    def _spans(self, line: str) -> list[tuple[int, int]]:
        text = self._context + line
        return [(s, e) for s, e in self._masker.spans(text) if e > len(self._context)]

    def _tail(self, text: str) -> str:
        return text[-self._masker.longest :] if self._masker.longest else ""

    def _settle(self, *, final: bool) -> None:
        lines = [line for line, _ in self._held]
        offset = len(self._context)
        text = self._context + "".join(lines)
        hidden = bytearray(len(text))
        for start, end in self._masker.spans(text):
            hidden[start:end] = b"\1" * (end - start)
        keep_from = len(text) if final else len(text) - self._masker.pending_prefix(text)
        emitted = 0
        position = offset
        for line, at in self._held:
            end = position + len(line)
            if end > keep_from and end > position:
                break  # this line may still continue into a secret
            self._emit(_blank(line, hidden[position:end]), at)
            position = end
            emitted += 1
        done = "".join(lines[:emitted])
        self._context = self._tail(self._context + done)
        self._held = self._held[emitted:]


def _blank(line: str, hidden: bytes | bytearray) -> str:
    if not any(hidden):
        return line
    out: list[str] = []
    masking = False
    for char, flag in zip(line, hidden, strict=True):
        if flag:
            if not masking:
                out.append(MASK)
            masking = True
        else:
            out.append(char)
            masking = False
    return "".join(out)


Publish = Callable[[str, int, str, str, float], None]  # (step, attempt, stream, line, at)
HOLD_SECONDS = 0.5


class LogMasking:
    """One LineMasker per (step, attempt, stream) of a run, in front of the bus.

    Held lines go out with the next line, when the step's status changes (`flush`), or
    after HOLD_SECONDS, so a live view never waits long for them.
    """

    def __init__(self, publish: Publish, masker: Masker | None = None) -> None:
        self.masker = masker or Masker()
        self._publish = publish
        self._streams: dict[tuple[str, int, str], LineMasker] = {}
        self._by_step: dict[str, list[LineMasker]] = {}  # flush(step) looks at its own only
        self._timer: asyncio.TimerHandle | None = None

    def log(self, step: str, attempt: int, stream: str, line: str, at: float) -> None:
        if not self.masker:
            self._publish(step, attempt, stream, line, at)
            return
        key = (step, attempt, stream)
        masker = self._streams.get(key)
        if masker is None:
            masker = self._streams[key] = LineMasker(
                self.masker, lambda text, when: self._publish(*key, text, when)
            )
            self._by_step.setdefault(step, []).append(masker)
        masker.feed(line, at)
        if masker.holding and self._timer is None:
            with contextlib.suppress(RuntimeError):  # no loop: the next flush() sends it
                loop = asyncio.get_running_loop()
                self._timer = loop.call_later(HOLD_SECONDS, self._on_timer)

    def flush(self, step: str | None = None) -> None:
        """Send the held lines (of `step` only, when given: a status change of one step
        costs its own streams, not every stream the run has had)."""
        if step is None:
            maskers = list(self._streams.values())
        else:
            maskers = list(self._by_step.get(step, ()))
        for masker in maskers:
            masker.flush()

    def _on_timer(self) -> None:
        self._timer = None
        self.flush()
