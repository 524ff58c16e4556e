"""Handing a run's workspace between machines (team mode).

A step that runs on one machine and writes to `$FLOWTUI_WORKSPACE` leaves its changes for
the steps after it, wherever they run: after the step, what it added, changed or deleted
is packed (`pack_changes`: a gzipped tar of the new and changed files plus the deleted
paths) and stored in the history; before a step runs elsewhere, the changes it has not seen
are unpacked into that machine's own workspace folder (`unpack`).  Nothing relies on a
shared filesystem.  `.flowtui/` (per-attempt scratch folders) is never carried.

A delta over `max_bytes()` (`FLOWTUI_WORKSPACE_MAX`, default 64 MiB compressed) is refused
with `WorkspaceTooLarge`, which fails the step with what to do.
"""

from __future__ import annotations

import io
import json
import os
from pathlib import Path

from flowtui.engine.logcap import fmt_bytes, parse_size

SCRATCH = ".flowtui"
MAX_ENV = "FLOWTUI_WORKSPACE_MAX"
DEFAULT_MAX = 64 * 1024 * 1024
DELETED = ".flowtui-deleted.json"  # inside an archive: the paths the step removed

Snapshot = dict[str, tuple[int, int]]  # relative path → (mtime_ns, size)


def file_safe(name: str) -> str:
    """A step name as one file name (matrix copies have brackets, `=` and spaces)."""
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def attempt_dir(workspace: Path, step: str, attempt: int) -> Path:
    """The private scratch folder of one attempt of a step (never handed on)."""
    return workspace / SCRATCH / f"{file_safe(step)}.{attempt}"


class WorkspaceTooLarge(Exception):
    pass


def max_bytes() -> int:
    raw = os.environ.get(MAX_ENV)
    if not raw:
        return DEFAULT_MAX
    try:
        return parse_size(raw) or DEFAULT_MAX
    except ValueError:
        return DEFAULT_MAX


def snapshot(root: Path) -> Snapshot:
    """Every regular file under `root` (but `.flowtui/`) with its mtime and size."""
    found: Snapshot = {}
    if not root.is_dir():
        return found
    for folder, dirs, files in os.walk(root):
        if Path(folder) == root and SCRATCH in dirs:
            dirs.remove(SCRATCH)
        for name in files:
            path = Path(folder) / name
            try:
                info = path.lstat()
            except FileNotFoundError:
                continue
            if path.is_symlink() or not path.is_file():
                continue
            found[str(path.relative_to(root))] = (info.st_mtime_ns, info.st_size)
    return found


def pack_changes(
    root: Path, before: Snapshot, limit: int | None = None, *, after: Snapshot | None = None
) -> bytes | None:
    """The files added or changed since `before`, and the ones deleted; None if nothing.
    `after`: the snapshot of `root` now, when the caller has taken it."""
    after = snapshot(root) if after is None else after
    changed = sorted(p for p, stamp in after.items() if before.get(p) != stamp)
    deleted = sorted(set(before) - set(after))
    if not changed and not deleted:
        return None
    import tarfile  # remote steps only (issue #18: `flowtui run` starts without it)

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for rel in changed:
            tar.add(root / rel, arcname=rel, recursive=False)
        if deleted:
            listing = json.dumps(deleted).encode()
            info = tarfile.TarInfo(DELETED)
            info.size = len(listing)
            tar.addfile(info, io.BytesIO(listing))
    data = buffer.getvalue()
    cap = max_bytes() if limit is None else limit
    if len(data) > cap:
        raise WorkspaceTooLarge(
            f"its workspace changes are {fmt_bytes(len(data))} packed, over the "
            f"{fmt_bytes(cap)} that can be handed to other machines ({MAX_ENV}); "
            "keep big files elsewhere (an artifact store) and pass their names as outputs"
        )
    return data


def unpack(root: Path, data: bytes) -> list[str]:
    """Apply a delta to `root`: its files written (safely: nothing outside `root`), its
    deletions made; the relative paths it touched."""
    import tarfile

    root.mkdir(parents=True, exist_ok=True)
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        members = tar.getmembers()
        deletions: list[str] = []
        for member in members:
            if member.name == DELETED:
                extracted = tar.extractfile(member)
                if extracted is not None:
                    deletions = list(json.loads(extracted.read()))
        files = [m for m in members if m.name != DELETED]
        tar.extractall(root, members=files, filter="data")
    for rel in deletions:
        target = (root / rel).resolve()
        if target.is_relative_to(root.resolve()) and target.is_file():
            target.unlink()
    return [m.name for m in files] + deletions


class HandOff:
    """One machine's side of one run's workspace: what it took in from other machines and
    what it handed on (`known`: the stamps of the workspace as the others know it), so that
    each delta holds exactly what changed *here* since — never a file a parallel step here
    left untouched while another machine rewrote it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.known: Snapshot = {}
        self.seen: set[int] = set()  # deltas applied here or made here

    def take(self, deltas: list[tuple[int, bytes]]) -> None:
        """Apply the deltas of other machines (in order) and note what they wrote."""
        for delta_id, data in deltas:
            touched = unpack(self.root, data)
            now = snapshot(self.root)
            for rel in touched:
                if rel in now:
                    self.known[rel] = now[rel]
                else:
                    self.known.pop(rel, None)
            self.seen.add(delta_id)

    def untouched(self) -> bool:
        """Cheaply (one folder listing, no walk): True when nothing here can have changed
        since the others last knew — the workspace held nothing then and holds nothing
        now but the scratch folder (most runs' steps never write one).  False: look."""
        if self.known:
            return False
        try:
            with os.scandir(self.root) as entries:
                return all(entry.name == SCRATCH for entry in entries)
        except FileNotFoundError:
            return True

    def give(self, limit: int | None = None) -> bytes | None:
        """What changed here since the others last knew, as a delta (None: nothing)."""
        after = snapshot(self.root)
        data = pack_changes(self.root, self.known, limit, after=after)
        self.known = after
        return data
