"""`flowtui edit` as a real process: what it prints, what it writes, and what it refuses
(exit 1, the file byte-identical)."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.cli.main import main
from flowtui.model.loader import load_workflow
from tests.cli.conftest import Cli

TEXT = """\
name: edited   # keep me
steps:
  # build first
  build: {run: make}
  test:
    requires: build
    run: 'make test'
"""


def test_edit_commands_change_the_file_and_print_the_diff(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(tmp_path)  # the first as a real process; the others in this one (faster)
    path = tmp_path / "edited.yaml"
    path.write_text(TEXT)

    done = cli(
        "edit", str(path), "--add-step", "ship", "--type", "script",
        "--set", "run=./ship.sh # not a comment", "--set", "retries=2", "--requires", "test,build",
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "added step `ship` (script)" in done.stdout
    assert "+  ship:" in done.stdout  # the diff
    assert path.read_text().startswith(TEXT)  # appended; the rest byte for byte
    ship = load_workflow(path).steps["ship"]
    assert ship.requires == ("test", "build")
    assert ship.spec["run"] == "./ship.sh # not a comment"
    assert ship.retries == 2

    assert main(["edit", str(path), "--rename", "build", "compile"]) == 0
    assert "`test`: requires follows the rename" in capsys.readouterr().out
    assert load_workflow(path).steps["test"].requires == ("compile",)
    assert "  # build first\n  compile: {run: make}\n" in path.read_text()

    assert main(["edit", str(path), "--set-step", "test", "timeout=5m", "--unset", "requires"]) == 0
    assert load_workflow(path).steps["test"].requires == ()

    assert main(["edit", str(path), "--connect", "compile", "test"]) == 0
    assert main(["edit", str(path), "--disconnect", "test", "ship"]) == 0
    assert main(["edit", str(path), "--duplicate", "ship", "ship2"]) == 0
    assert main(["edit", str(path), "--move", "ship2", "--before", "compile"]) == 0
    assert list(load_workflow(path).steps) == ["ship2", "compile", "test", "ship"]
    assert main(["edit", str(path), "--remove-step", "ship2"]) == 0
    assert "ship2" not in load_workflow(path).steps

    before = path.read_bytes()
    capsys.readouterr()
    assert main(["edit", str(path), "--remove-step", "compile", "--dry-run", "--detach"]) == 0
    assert "dry run" in capsys.readouterr().out
    assert path.read_bytes() == before


def test_refused_edits_exit_1_and_leave_the_file_byte_identical(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text(TEXT)
    done = Cli(tmp_path)("edit", str(path), "--connect", "test", "build")
    assert done.returncode == 1
    assert "flowtui: error: not changed: " in done.stderr and "cycle: build" in done.stderr
    assert "Traceback" not in done.stderr
    assert path.read_bytes() == TEXT.encode()
    refusals = [
        (("--remove-step", "build"), "needed by `test`"),
        (("--set-step", "test", "retries=[1"), "not a YAML value"),
        (("--set-step", "test", "retries=two"), "`retries` must be an integer"),
        (("--add-step", "x", "--type", "http"), "missing `url`"),
        (("--rename", "nope", "x"), "no step `nope`"),
    ]
    for args, reason in refusals:
        assert main(["edit", str(path), *args]) == 1, args
        assert reason in capsys.readouterr().err, args
        assert path.read_bytes() == TEXT.encode()


def test_a_symlinked_file_is_edited_through_the_link(tmp_path: Path) -> None:
    real = tmp_path / "shared" / "real.yaml"
    real.parent.mkdir()
    real.write_text(TEXT)
    link = tmp_path / "edited.yaml"
    link.symlink_to(real)
    assert main(["edit", str(link), "--add-step", "lint", "--set", "run=ruff"]) == 0
    assert link.is_symlink() and link.resolve() == real
    assert "lint" in load_workflow(real).steps
    assert list(real.parent.iterdir()) == [real]  # no temporary file left behind


def test_a_file_that_cannot_be_saved_is_refused_untouched(tmp_path: Path) -> None:
    # a name so long that the temporary file beside it cannot be created (ENAMETOOLONG):
    # an OSError that even root meets
    path = tmp_path / f"{'w' * 245}.yaml"
    path.write_text(TEXT)
    done = Cli(tmp_path)("edit", str(path), "--add-step", "lint", "--set", "run=ruff")
    assert done.returncode == 1, done.stdout
    assert "Traceback" not in done.stderr
    assert "flowtui: error: not changed: " in done.stderr
    assert "cannot save it: File name too long (the file is unchanged)" in done.stderr
    assert path.read_bytes() == TEXT.encode()
