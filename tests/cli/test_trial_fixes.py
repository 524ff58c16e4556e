"""Problems a new user's trial found in the CLI, each checked with real `flowtui` processes."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import Cli


def _write(folder: Path, name: str, text: str) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text)
    return path


def test_when_true_false_run_and_unknown_names_fail_validate(cli: Cli, tmp_path: Path) -> None:
    good = _write(
        tmp_path,
        "w.yaml",
        "name: w\nsteps:\n"
        "  skip1: {run: 'true', when: 'false'}\n"
        "  skip2: {run: 'true', when: false}\n"
        "  go: {run: 'true', when: 'TRUE'}\n",
    )
    result = cli("run", str(good))
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = dict(cli.query("SELECT name, status FROM steps"))
    assert statuses == {"skip1": "skipped", "skip2": "skipped", "go": "succeeded"}

    bad = _write(
        tmp_path,
        "bad.yaml",
        "name: bad\nsteps:\n"
        "  a: {run: 'true', when: 'params.x == 1'}\n"
        "  b: {run: 'true', when: nonsense_var}\n",
    )
    result = cli("validate", str(bad))
    assert result.returncode == 1
    assert f"{bad}:3:" in result.stdout and "params.x" in result.stdout
    assert f"{bad}:4:" in result.stdout and "nonsense_var" in result.stdout


def test_same_name_in_two_files_is_refused_like_the_dashboard(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    text = "name: same\nsteps:\n  a: {run: 'true'}\n"
    _write(folder, "same1.yaml", text)
    _write(folder, "same2.yaml", text)

    result = cli("validate", "workflows")
    assert result.returncode == 1
    assert "✓ workflows/same1.yaml: same (1 step)" in result.stdout
    assert (
        "workflows/same2.yaml:1:1: error: workflow name `same` is already used by same1.yaml"
        in (result.stdout)
    )

    listed = cli("list", "workflows").stdout
    assert "same2.yaml  ✗ invalid" in listed and "1 step " in listed

    result = cli("run", "same")
    assert result.returncode == 1
    assert "ambiguous" in result.stderr
    assert "same1.yaml" in result.stderr and "same2.yaml" in result.stderr
    assert cli.query("SELECT id FROM runs") == []


def test_run_names_the_broken_file_that_declares_the_workflow(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    _write(folder, "syntax.yaml", "name: syn\nsteps:\n  a: {run: 'true'\n  b: [\n")
    _write(
        folder,
        "other.py",
        "from flowtui.workflows import Workflow\nwf = Workflow('pyw')\nraise RuntimeError('x')\n",
    )
    result = cli("run", "syn")
    assert result.returncode == 1
    assert "workflows/syntax.yaml looks like it declares `syn` but does not load: " in (
        result.stderr
    )
    assert "syntax.yaml:3:6:" in result.stderr  # where the unclosed `{` was opened
    result = cli("run", "pyw")
    assert "workflows/other.py looks like it declares `pyw` but does not load: " in result.stderr
    assert "other.py:3:" in result.stderr


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cli]:
    """Run 1 of `one` (its `docs` fails on its `when:`), run 2 of `two`, and run 3 of
    `three`, still going: held at its approval gate, `ship` not started."""
    cli = Cli(tmp_path_factory.mktemp("trial"))
    _write(
        cli.cwd,
        "one.yaml",
        "name: one\nparams:\n  v: {default: abc}\nsteps:\n  build: {run: 'true'}\n"
        "  docs: {requires: [build], run: 'true', when: 'int(params.v) > 1'}\n"
        "  ship: {requires: [build], run: 'true'}\n",
    )
    _write(cli.cwd, "two.yaml", "name: two\nsteps:\n  build: {run: 'true'}\n")
    _write(
        cli.cwd,
        "three.yaml",
        "name: three\nsteps:\n  gate: {type: approval}\n  ship: {requires: [gate], run: 'true'}\n",
    )
    assert cli("run", "one.yaml", "-q").returncode == 1
    assert cli("run", "two.yaml", "-q").returncode == 0
    going = cli.start("run", "three.yaml", "-q")
    try:
        cli.wait_for(lambda: cli.step_status(3, "gate") == "held", timeout=30)
        yield cli
    finally:
        going.terminate()
        going.communicate(timeout=30)


def test_timeline_uses_shows_words(runs: Cli) -> None:
    show = runs("show", "1").stdout
    assert "docs  ✗ failed" in show or "failed" in show.split("── docs")[1].splitlines()[0]
    ended = runs("show", "1", "--timeline").stdout
    assert "failed: docs" in ended and "not run" not in ended
    going = runs("show", "3", "--timeline").stdout
    assert "gate waits for approval" in going
    assert "pending: ship" in going and "not run" not in going


def test_junit_refuses_a_run_that_has_not_ended(runs: Cli, tmp_path: Path) -> None:
    report = tmp_path / "r.xml"
    result = runs("show", "3", "--junit", str(report))
    assert result.returncode == 1
    assert "run 3 has not ended (held)" in result.stderr
    assert not report.exists()


def test_junit_dash_writes_to_stdout(runs: Cli) -> None:
    result = runs("show", "1", "--junit", "-")
    assert result.returncode == 0
    assert result.stdout.startswith('<?xml version="1.0"') and "<testcase" in result.stdout
    assert not (runs.cwd / "-").exists()


def test_compare_refuses_runs_of_different_workflows(runs: Cli) -> None:
    result = runs("show", "1", "--compare", "2")
    assert result.returncode == 1
    assert "run 1 is of one but run 2 is of two" in result.stderr
    assert result.stdout == ""


def test_show_unknown_step_is_only_an_error(runs: Cli) -> None:
    result = runs("show", "1", "--step", "nosuch")
    assert result.returncode == 1
    assert result.stdout == ""
    assert "run 1 has no step 'nosuch'" in result.stderr


def test_db_in_a_missing_folder_or_not_a_database_is_an_error(cli: Cli, tmp_path: Path) -> None:
    missing = tmp_path / "no" / "such" / "x.db"
    result = cli("--db", str(missing), "history")
    assert result.returncode == 1 and result.stdout == ""
    assert f"the folder {missing.parent} does not exist" in result.stderr
    assert not (tmp_path / "no").exists()
    result = cli("run", str(_write(tmp_path, "w.yaml", "name: w\nsteps:\n  a: {run: 'true'}\n")),
                 "--db", str(missing))  # fmt: skip
    assert result.returncode == 1 and "does not exist" in result.stderr
    result = cli("web", "--port", "0", "--db", str(missing))  # refused before serving
    assert result.returncode == 1 and "does not exist" in result.stderr
    junk = _write(tmp_path, "junk.db", "not sqlite at all\n" * 200)
    result = cli("history", "--db", str(junk))
    assert result.returncode == 1
    assert f"cannot open the history database {junk}: file is not a database" in result.stderr


def test_unknown_option_shows_the_commands_usage(cli: Cli) -> None:
    result = cli("run", "production-deploy", "--bogus")
    assert result.returncode == 2
    assert result.stderr.startswith("usage: flowtui run ")
    assert "flowtui run: error: unrecognized arguments: --bogus" in result.stderr
    assert cli.query("SELECT id FROM runs") == []


def test_a_missing_python_file_cannot_be_read(cli: Cli) -> None:
    result = cli("validate", "nosuch.py")
    assert result.returncode == 1
    assert "nosuch.py:1:1: error: cannot read the file: No such file or directory" in result.stdout
    assert "FileNotFoundError" not in result.stdout
