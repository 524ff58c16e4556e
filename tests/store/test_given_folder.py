"""A history path given in a folder that does not exist is refused where histories are opened
(`store.backends.open_database`), so every opener gets the check; $FLOWTUI_DB's and the default
location's folders are created."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from flowtui.store import RunStore
from flowtui.store.db import StoreError


@pytest.mark.parametrize("spelled", ["path", "str", "sqlite-url"])
async def test_a_given_path_in_a_missing_folder_is_refused(tmp_path: Path, spelled: str) -> None:
    missing = tmp_path / "no" / "such" / "x.db"
    given: str | Path = {"path": missing, "str": str(missing)}.get(spelled, f"sqlite://{missing}")
    with pytest.raises(StoreError, match=rf"the folder {tmp_path}/no/such does not exist"):
        await RunStore.open(given)
    assert not (tmp_path / "no").exists()


async def test_flowtui_db_folders_are_created(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    target = tmp_path / "new" / "folder" / "x.db"
    monkeypatch.setenv("FLOWTUI_DB", str(target))
    store = await RunStore.open(None)
    await store.close()
    assert target.is_file()
    assert stat.S_IMODE(target.parent.stat().st_mode) == 0o700
