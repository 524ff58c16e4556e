"""Issue #17 item 6: control characters inside a secret do not defeat masking.

A secret split by a carriage return, an ESC and a tab is printed raw, through `cat -v`,
with the control characters dropped, with its CR turned into a line break, as Python's
repr and into `$FLOWTUI_OUTPUT`: neither the history nor `flowtui logs` holds it or any of
its pieces.
"""

from __future__ import annotations

from tests.cli.conftest import Cli

from .conftest import db_text, write

SECRET = "first\rrest-Kx7\x1bgamma9q\tdelta0z"
PIECES = ["first", "rest-Kx7", "gamma9q", "delta0z"]


def test_a_secret_split_by_control_characters_stays_masked(cli: Cli) -> None:
    write(
        cli.cwd / "ctl.yaml",
        """\
        name: ctl
        secrets:
          S: {env: MY_SECRET}
        steps:
          show:
            run: |
              printf 'raw %s end\\n' "$S"
              printf 'catv %s end\\n' "$S" | cat -v
              printf 'dropped %s end\\n' "$S" | tr -d '\\r\\033\\t'
              printf 'split %s end\\n' "$S" | tr '\\r' '\\n'
              python3 -c 'import os; print("repr", repr(os.environ["S"]))'
              echo "token=$S" >> "$FLOWTUI_OUTPUT"
        """,
    )
    cli.env["MY_SECRET"] = SECRET
    done = cli("run", "ctl.yaml")
    assert done.returncode == 0, done.stderr
    logs = cli("logs", "1")
    assert logs.returncode == 0, logs.stderr
    assert "raw *** end" in logs.stdout and "repr '***'" in logs.stdout
    for text in (db_text(cli.db), done.stdout, logs.stdout):
        for piece in [SECRET, "".join(PIECES), *PIECES]:
            assert piece not in text, f"{piece!r} in clear"
