"""`flowtui dashboard --check-config` reports every problem the dashboard refuses to start
on, as real processes: a `folder` that is not a folder is said at its line, and the
dashboard refuses it with the same check."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli


def test_a_folder_that_does_not_exist_is_reported_and_refused(cli: Cli, tmp_path: Path) -> None:
    config = tmp_path / "xdg" / "flowtui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text('theme = "flowtui-dark"\nfolder = "~/nonexistent-flows"\n')
    cli.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    cli.env["HOME"] = str(tmp_path)
    missing = tmp_path / "nonexistent-flows"
    checked = cli("dashboard", "--check-config")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    assert checked.stdout == (
        f"{config}:2: folder: {missing} is not a folder: the dashboard refuses to start "
        "without DIR\n"
    )
    refused = cli("dashboard")  # what --check-config warned of
    assert refused.returncode == 1
    assert f"{missing} (folder in {config}) is not a folder" in refused.stderr
    missing.mkdir()
    fine = cli("dashboard", "--check-config")
    assert (fine.returncode, fine.stdout) == (0, f"{config}: fine\n")
