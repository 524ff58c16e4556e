"""A workflow file opened for editing: read once, written back atomically, and never over
a version someone else saved in between (unless asked).

The file's bytes are hashed when it is opened; before a save they are read again and
compared.  A write goes to a temporary file in the same folder that then replaces the
file (`os.replace`), so a reader sees the old text or the new one, never half of it; the
file keeps its permission bits.  A symlinked file is written through the link (the file it
points to changes; the link stays a link).  A save that cannot read or write the file is
refused (EditRefused, the file untouched), never an OSError.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from flowtui.model.edit import EditRefused

NEW_FILE_MODE = 0o600  # files flowtui writes are private


class FileChanged(EditRefused):
    """The file on disk is not the one that was opened (someone else saved it)."""


def _digest(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@dataclass(frozen=True, slots=True)
class OpenedFile:
    path: Path
    text: str
    digest: str  # of the bytes as opened (or as last saved here)

    @classmethod
    def open(cls, path: str | Path) -> OpenedFile:
        file = Path(path)
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise EditRefused(f"{file}: cannot read the file: {exc.strerror or exc}") from None
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            raise EditRefused(f"{file}: not UTF-8 text ({exc.reason})") from None
        return cls(file, text, _digest(data))

    def on_disk(self) -> str | None:
        """The digest of the file as it is now (None: it is gone); EditRefused when it
        cannot be read."""
        try:
            return _digest(self.path.read_bytes())
        except FileNotFoundError:
            return None
        except OSError as exc:
            raise EditRefused(f"{self.path}: cannot read the file: {exc.strerror or exc}") from None

    def changed_on_disk(self) -> bool:
        return self.on_disk() != self.digest

    def save(self, text: str, *, force: bool = False) -> OpenedFile:
        """Write `text`; FileChanged when the file was changed since it was opened and
        `force` is not given.  Returns the file as now saved."""
        if not force and self.changed_on_disk():
            raise FileChanged(
                f"{self.path} was changed on disk since it was opened; "
                "not overwritten (reopen it to edit the new version)"
            )
        data = text.encode("utf-8")
        try:
            write_atomic(self.path, data)
        except OSError as exc:
            raise EditRefused(
                f"{self.path}: cannot save it: {exc.strerror or exc} (the file is unchanged)"
            ) from None
        return OpenedFile(self.path, text, _digest(data))


def write_atomic(path: Path, data: bytes, mode: int | None = None) -> None:
    """Replace `path` with `data` at once; keeps the file's mode (a new file: `mode`, else
    private).  A symlink is followed: the file it points to is replaced, the link stays."""
    path = Path(os.path.realpath(path))
    try:
        keep = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        keep = NEW_FILE_MODE if mode is None else mode
    fd, temp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(data)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(temp, keep)
        os.replace(temp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temp)
        raise


def create_file(path: Path, text: str) -> OpenedFile:
    """Write a new file; EditRefused if one is already there (never overwrites)."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, NEW_FILE_MODE)
    except FileExistsError:
        raise EditRefused(f"{path} already exists") from None
    except OSError as exc:
        raise EditRefused(f"{path}: cannot create it: {exc.strerror or exc}") from None
    data = text.encode("utf-8")
    with os.fdopen(fd, "wb") as out:
        out.write(data)
    return OpenedFile(path, text, _digest(data))


__all__ = ["NEW_FILE_MODE", "FileChanged", "OpenedFile", "create_file", "write_atomic"]
