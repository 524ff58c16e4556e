"""Unknown options are reported by the parser they were given to, with its usage; exit 2."""

from __future__ import annotations

import pytest

from flowtui.cli.main import main


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    with pytest.raises(SystemExit) as exit_info:
        main(list(argv))
    assert exit_info.value.code == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    return captured.err


@pytest.mark.parametrize(
    "argv",
    [
        ("--bogus",),  # no command: the dashboard is implied, but never named
        ("--bogus=3",),
        ("somewhere", "--bogus"),
        ("--db", "h.db", "--bogus"),
        ("--bogus", "run", "x.yaml"),  # before the command: flowtui's own option
    ],
)
def test_flowtuis_own_unknown_option(capsys: pytest.CaptureFixture[str], argv: tuple[str]) -> None:
    err = _refused(capsys, *argv)
    assert err.startswith("usage: flowtui [-h]"), err
    bad = next(a for a in argv if a.startswith("--bogus"))
    assert f"flowtui: error: unrecognized arguments: {bad}\n" in err
    assert "commands: dashboard, run, validate," in err
    assert "flowtui dashboard" not in err and "flowtui run" not in err


@pytest.mark.parametrize(
    ("argv", "prog"),
    [
        (("run", "--bogus", "x.yaml"), "flowtui run"),
        (("--db", "run", "run", "--bogus", "x.yaml"), "flowtui run"),  # `run` as --db's value
        (("dashboard", "--bogus"), "flowtui dashboard"),
        (("history", "--bogus"), "flowtui history"),
        (("db", "--bogus", "copy", "a", "b"), "flowtui db"),
        (("db", "copy", "a", "--bogus", "b"), "flowtui db copy"),
    ],
)
def test_a_commands_unknown_option(
    capsys: pytest.CaptureFixture[str], argv: tuple[str], prog: str
) -> None:
    err = _refused(capsys, *argv)
    assert err.startswith(f"usage: {prog} [-h]"), err
    assert err.endswith(f"{prog}: error: unrecognized arguments: --bogus\n"), err
