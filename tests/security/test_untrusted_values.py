"""Params are data: they reach a script only as environment variables, never as code.

The script text itself is never templated (flowtui/engine/templating.py is used only for
HTTP URLs, headers and bodies, and notify messages), so a param written like shell syntax
stays text, and no other process is started because of it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.cli.conftest import Cli

from .conftest import write

INJECTIONS = [
    'x";touch PWNED;#',
    "$(touch PWNED)",
    "`touch PWNED`",
    "'; touch PWNED; echo '",
    "x\ntouch PWNED",
]


@pytest.mark.parametrize("value", INJECTIONS)
def test_a_hostile_param_is_only_ever_an_environment_value(
    cli: Cli, tmp_path: Path, value: str
) -> None:
    wf = write(
        tmp_path / "echo.yaml",
        """\
        name: echo
        params:
          x: {required: true}
        steps:
          quoted:
            run: |
              printf 'got:%s\\n' "$PARAM_X"
              echo "template:${PARAM_X:0:0}{{ params.x }}"
              echo 'literal:${PARAM_X}'
              # every process of this step's group right now: the shell and this ps alone
              # (and bwrap, the sandbox, when it is used)
              group=$(ps -o pgid= -p $$ | tr -d ' ')
              ps -o comm= -g "$group" > "$FLOWTUI_WORKSPACE/procs.txt"
              sed 's/^/procs:/' "$FLOWTUI_WORKSPACE/procs.txt"
          unquoted: {requires: [quoted], run: 'echo got:$PARAM_X'}
        """,
    )
    result = cli("run", str(wf), "-p", f"x={value}")
    assert result.returncode == 0, result.stdout + result.stderr
    for where in (tmp_path, tmp_path / "workspaces", Path.cwd()):
        assert not list(where.rglob("PWNED")), f"a param ran as code in {where}"
    lines = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step='quoted'")]
    got = "\n".join(line for line in lines if not line.startswith(("template:", "literal:")))
    assert "got:" + value.split("\n")[0] in got
    # no `{{ }}` or `${}` templating of the script text before the shell sees it
    assert "template:{{ params.x }}" in lines and "literal:${PARAM_X}" in lines
    procs = sorted(line for line in lines if line.startswith("procs:"))
    procs = [p for p in procs if p != "procs:bwrap"]  # the sandbox (flowtui/engine/mountns.py)
    assert procs == ["procs:bash", "procs:ps"], lines


def test_a_param_in_a_when_expression_is_data_not_code(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "when.yaml",
        """\
        name: when
        params:
          x: {required: true}
        steps:
          gated: {when: "params.x == 'go'", run: 'echo ran'}
        """,
    )
    result = cli("run", str(wf), "-p", "x=__import__('os').system('touch PWNED')")
    assert result.returncode == 0, result.stdout + result.stderr
    assert cli.step_status(1, "gated") == "skipped"
    assert not list(tmp_path.rglob("PWNED"))
