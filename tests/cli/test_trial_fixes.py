"""Problems a new user's trial found in the CLI, each checked with real `flowtui` processes."""

from __future__ import annotations

from pathlib import Path

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
    assert "workflows/same2.yaml:1:1: error: workflow name `same` is already used by same1.yaml" in (
        result.stdout
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
    assert "syntax.yaml:4:" in result.stderr
    result = cli("run", "pyw")
    assert "workflows/other.py looks like it declares `pyw` but does not load: " in result.stderr
    assert "other.py:3:" in result.stderr
