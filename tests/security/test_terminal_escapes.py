"""Issue #17 item 8: escape sequences from steps never reach the terminal raw.

A step prints an OSC title change, `ESC c` (terminal reset), a BEL and a carriage return;
a matrix value (so a step name) carries ESC and U+202E.  `flowtui run`, `logs` and `show`
show them as symbols (a carriage return rewrites only the step's own text: its last text is
shown after flowtui's prefix); `--raw` keeps the bytes.
"""

from __future__ import annotations

from tests.cli.conftest import Cli

from .conftest import write

DANGEROUS = ("\x1b", "\x07", "\r", "\u202e")


def _check_visible(text: str) -> None:
    for char in DANGEROUS:
        assert char not in text, f"{char!r} reached the terminal"


def test_run_logs_and_show_render_control_characters(cli: Cli) -> None:
    write(
        cli.cwd / "esc.yaml",
        """\
        name: esc
        steps:
          noisy:
            matrix:
              target: ["a\\e7b\\u202Ec"]
            run: |
              printf 'title \\033]0;pwned\\007 here\\n'
              printf 'reset \\033c done\\n'
              printf 'hidden secret\\rvisible\\n'
              echo "summary=ok" >> "$FLOWTUI_OUTPUT"
        """,
    )
    run = cli("run", "esc.yaml")
    assert run.returncode == 0, run.stderr
    _check_visible(run.stdout)
    assert "title ␛]0;pwned␇ here" in run.stdout
    assert "reset ␛c done" in run.stdout
    # a carriage return rewrites the step's own line (a progress bar): its last text is
    # shown, as a terminal or a CI log leaves it — after flowtui's prefix, which it cannot
    # hide or fake (flowtui/overprint.py); --raw and the history keep every byte
    assert "noisy[target=a␛7b<U+202E>c] │ visible\n" in run.stdout
    assert "hidden secret" not in run.stdout
    assert "<U+202E>" in run.stdout

    for args in (("logs", "1"), ("show", "1", "--lines", "10")):
        shown = cli(*args)
        assert shown.returncode == 0, shown.stderr
        _check_visible(shown.stdout)
        assert "title ␛]0;pwned␇ here" in shown.stdout

    assert cli.query("SELECT COUNT(*) FROM logs WHERE line = 'hidden secret\rvisible'") == [(1,)]
    raw = cli("logs", "1", "--raw")
    assert "title \x1b]0;pwned\x07 here" in raw.stdout
    assert "reset \x1bc done" in raw.stdout
