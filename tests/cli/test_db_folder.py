"""`--db` in a folder that does not exist: every entry point refuses it (the check lives where
the history is opened, store.backends.open_database) and creates nothing."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from flowtui.cli.main import main
from flowtui.store import RunStore
from flowtui.tui.app import FlowApp


@pytest.fixture
def missing(tmp_path: Path) -> Path:
    return tmp_path / "no" / "such" / "x.db"


@pytest.mark.parametrize(
    "argv",
    [
        ("token", "create", "bob", "--scope", "read"),
        ("serve", "--port", "0"),
        ("envs",),
        ("--db", "{missing}", "inbox"),  # flowtui's own --db, before the command
    ],
)
def test_commands_refuse_it(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, missing: Path, argv: tuple[str, ...]
) -> None:
    line = [a.format(missing=missing) for a in argv]
    assert main(line if "--db" in line else [*line, "--db", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"the folder {missing.parent} does not exist" in err
    assert not (tmp_path / "no").exists()


def test_db_copy_refuses_it_as_destination(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, missing: Path
) -> None:
    source = tmp_path / "h.db"
    asyncio.run(_create(source))
    assert main(["db", "copy", str(source), str(missing)]) == 1
    assert f"the folder {missing.parent} does not exist" in capsys.readouterr().err
    assert not (tmp_path / "no").exists()


async def test_the_dashboard_exits_saying_it(tmp_path: Path, missing: Path) -> None:
    app = FlowApp(tmp_path, db_path=missing, watch=False, triggers=False)
    async with app.run_test():
        pass
    assert app.return_code == 1
    assert not (tmp_path / "no").exists()


async def _create(history: Path) -> None:
    await (await RunStore.open(history)).close()
