"""A one-command bash `run:` text executed without bash (issue #18): each case both ways.

Every row is run twice with the same environment and working folder: as the script step
runs it with bash (`bash -eo pipefail -c TEXT STEP`) and the way the step runs it now (the
program directly when `direct_command` says so, else bash again); exit code, stdout and
stderr must be the same.  Each row also says which way it must take, so a text with shell
syntax can never slip onto the direct way.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from flowtui.engine.directexec import BASH_MANAGED, direct_command
from flowtui.engine.process import run_streaming
from tests.cli.conftest import Cli

BASH = shutil.which("bash")
pytestmark = pytest.mark.skipif(BASH is None, reason="bash is not installed")


@dataclass(frozen=True)
class Case:
    text: str
    direct: bool  # must it take the direct way?
    env: dict[str, str | None] = field(default_factory=dict)  # None: removed
    sort_stdout: bool = False  # `env` prints in bash's own order


CASES = {
    "true": Case("true", direct=True),
    "false": Case("false", direct=True),
    "true with spaces around": Case("  true\t", direct=True),
    "true --help (GNU true prints help)": Case("true --help", direct=False),
    "echo words": Case("echo hello   world a=b x,y:z 1.5% @home +1", direct=True),
    "echo -n (an option)": Case("echo -n hi", direct=False),
    "printf (a builtin)": Case("printf hi", direct=False),
    "pwd (a builtin: the logical folder)": Case("pwd", direct=False),
    "cd (a builtin)": Case("cd /", direct=False),
    "exit (a builtin)": Case("exit 3", direct=False),
    "source (.)": Case(". ./script.sh", direct=False),
    "if (a keyword)": Case("if true", direct=False),
    "an assignment first": Case("FOO=1 env", direct=False),
    "a variable": Case("echo $HOME", direct=False),
    "a glob": Case("echo *", direct=False),
    "a quote": Case("echo 'a  b'", direct=False),
    "a list": Case("true; false", direct=False),
    "a pipe": Case("echo hi | cat", direct=False),
    "a redirection": Case("echo hi >out.txt", direct=False),
    "a comment": Case("echo hi # there", direct=False),
    "a tilde": Case("echo ~", direct=False),
    "a backslash": Case("echo a\\b", direct=False),
    "braces": Case("echo {a,b}", direct=False),
    "two lines": Case("true\nfalse", direct=False),
    "ls with a missing file (the program's own message)": Case("ls no-such-file", direct=True),
    "a program by absolute path": Case(
        f"{shutil.which('env')} -u HOME", direct=True, sort_stdout=True
    ),
    "a #! script with arguments": Case("./script.sh one two", direct=True),
    "a #! script found on PATH": Case("script.sh three", direct=True),
    "a program that dies of SIGKILL": Case("./selfkill.sh", direct=True),
    "stdin is empty": Case("cat", direct=True),
    "exit code 3": Case("./exit3.sh", direct=True),
    "command not found: 127, bash's message": Case("no-such-program-x1 arg", direct=False),
    "not executable: 126, bash's message": Case("./notexec.sh", direct=False),
    "a folder: 126, bash's message": Case("./adir", direct=False),
    "a text file without #!: bash runs it": Case("./noshebang", direct=False),
    "a function exported by bash shadows it": Case(
        "myprog", direct=False, env={"BASH_FUNC_myprog%%": "() {  echo from-function\n}"}
    ),
    "BASH_ENV is read first": Case("true", direct=False, env={"BASH_ENV": "/dev/null"}),
    "the environment bash passes on": Case(
        "env",
        direct=True,
        env={"OLDPWD": "/", "A.B": "not a name", "SHLVL": None, "PWD": None},
        sort_stdout=True,
    ),
    "the environment: a numbered SHLVL, a right PWD": Case(
        "env", direct=True, env={"SHLVL": "7", "PWD": "@cwd"}, sort_stdout=True
    ),
    "the environment: SHLVL 007, a wrong PWD": Case(
        "env", direct=True, env={"SHLVL": "007", "PWD": "/"}, sort_stdout=True
    ),
    "the environment: prompts, an OLDPWD that is a folder": Case(
        "env",
        direct=True,
        env={"PS1": "$ ", "PS2": "> ", "PS3": "#? ", "PS4": "++ ", "OLDPWD": "/"},
        sort_stdout=True,
    ),
    "the environment: an OLDPWD that is a file": Case(
        "env", direct=True, env={"OLDPWD": "/etc/passwd"}, sort_stdout=True
    ),
    "the environment: OPTIND (bash sets it)": Case("env", direct=False, env={"OPTIND": "4"}),
    "a locale that is not installed (bash warns)": Case(
        "true", direct=False, env={"LC_ALL": "xx_YY.nowhere"}
    ),
    "the environment: SHLVL too high (bash warns)": Case("env", direct=False, env={"SHLVL": "999"}),
    "the environment: a relative PWD": Case(
        "env", direct=True, env={"PWD": "somewhere"}, sort_stdout=True
    ),
    "the environment: PWD through a symbolic link": Case(
        "env", direct=True, env={"PWD": "@link"}, sort_stdout=True
    ),
    "PATH: the first executable file, not the first file": Case(
        "tool", direct=True, env={"PATH": "@path"}
    ),
    "PATH with a relative folder": Case("true", direct=False, env={"PATH": ".:/usr/bin:/bin"}),
}


@pytest.fixture(scope="module")
def folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A working folder with the programs the cases call."""
    root = tmp_path_factory.mktemp("directexec")
    work = root / "work"
    work.mkdir()

    def program(path: Path, text: str, mode: int = 0o755) -> None:
        path.write_text(text)
        path.chmod(mode)

    program(work / "script.sh", '#!/bin/sh\necho "script $# $1 $2"\necho err >&2\n')
    program(work / "selfkill.sh", "#!/bin/sh\necho before\nkill -9 $$\n")
    program(work / "exit3.sh", "#!/bin/sh\necho leaving >&2\nexit 3\n")
    program(work / "notexec.sh", "#!/bin/sh\necho never\n", 0o644)
    program(work / "noshebang", "echo run-by-bash $0\n")
    (work / "adir").mkdir()
    first, second = root / "bin1", root / "bin2"
    first.mkdir()
    second.mkdir()
    program(first / "tool", "#!/bin/sh\necho wrong tool\n", 0o644)
    program(second / "tool", "#!/bin/sh\necho right tool\n")
    (root / "link").symlink_to(work)
    return work


def _env(case: Case, work: Path) -> dict[str, str]:
    # the runner's own environment could hold what sends every text to bash (OPTIND, …)
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("BASH_FUNC_") and k not in BASH_MANAGED and k != "LC_ALL"
    }
    env["PATH"] = f"{work}:{env.get('PATH', os.defpath)}"
    values = {
        "@cwd": str(work),
        "@link": str(work.parent / "link"),
        "@path": f"{work.parent / 'bin1'}:{work.parent / 'bin2'}:{env['PATH']}",
    }
    for key, value in case.env.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = values.get(value, value)
    return env


async def _run(
    argv: list[str], env: dict[str, str], cwd: Path, executable: str | None = None
) -> tuple[int, list[str], list[str]]:
    out: dict[str, list[str]] = {"stdout": [], "stderr": [], "system": []}
    code = await run_streaming(
        argv, env=env, cwd=cwd, on_line=lambda s, line: out[s].append(line), executable=executable
    )
    return code, out["stdout"], out["stderr"]


@pytest.mark.parametrize("name", list(CASES))
async def test_the_same_both_ways(name: str, folder: Path) -> None:
    case = CASES[name]
    env = _env(case, folder)
    assert BASH is not None
    by_bash = await _run([BASH, "-eo", "pipefail", "-c", case.text, "step"], env, folder)
    direct = direct_command(case.text, env, str(folder))
    assert (direct is not None) is case.direct, direct
    if direct is None:
        return  # it goes to bash, as it did
    ours = await _run(direct.argv, direct.env, folder, direct.executable)
    if case.sort_stdout:
        assert (ours[0], sorted(ours[1]), ours[2]) == (
            by_bash[0],
            sorted(by_bash[1]),
            by_bash[2],
        )
    else:
        assert ours == by_bash


def test_the_cases_cover_both_ways_and_bashs_own_errors() -> None:
    """The table holds the answers a reader checks first (no test that cannot fail)."""
    assert sum(c.direct for c in CASES.values()) >= 15
    assert sum(not c.direct for c in CASES.values()) >= 25


async def test_bash_answers_what_the_direct_way_leaves_to_it(folder: Path) -> None:
    env = _env(Case("x", direct=False), folder)
    assert BASH is not None
    bash = [BASH, "-eo", "pipefail", "-c"]
    code, _, err = await _run([*bash, "no-such-program-x1", "step"], env, folder)
    assert (code, err) == (127, ["step: line 1: no-such-program-x1: command not found"])
    code, _, err = await _run([*bash, "./notexec.sh", "step"], env, folder)
    assert (code, err) == (126, ["step: line 1: ./notexec.sh: Permission denied"])


def test_a_direct_step_is_sandboxed_and_a_failing_one_says_what_bash_says(tmp_path: Path) -> None:
    """The whole `flowtui run`: a direct step still cannot read the history (bwrap or
    Landlock, whichever is here), and a missing program fails as it did with bash."""
    cli = Cli(tmp_path)
    cli.db = tmp_path / "data" / "history.db"
    cli.env["FLOWTUI_DB"] = str(cli.db)
    cat = shutil.which("cat")
    assert cat is not None
    text = f"{cat} {cli.db}"
    assert direct_command(text, cli.env, str(tmp_path)) is not None
    wf = tmp_path / "wf.yaml"
    wf.write_text(
        "name: direct\n"
        "steps:\n"
        f"  peek: {{run: '{text}'}}\n"
        "  hello: {run: 'echo hello', requires: [peek], always: true}\n"
        "  missing: {run: 'no-such-program-x1 now', requires: [hello]}\n"
    )
    done = cli("run", str(wf))
    assert done.returncode != 0
    rows = cli.query("SELECT step, stream, line FROM logs WHERE run_id = 1 ORDER BY id")
    lines = {(str(s), str(st), str(line)) for s, st, line in rows}
    assert ("hello", "stdout", "hello") in lines
    # bash's $0 is the step's name
    assert ("missing", "stderr", "missing: line 1: no-such-program-x1: command not found") in lines
    peek = [line for s, st, line in lines if s == "peek" and st == "stderr"]
    assert peek and all(str(cli.db) in line for line in peek), peek
    steps = dict(cli.query("SELECT name, exit_code FROM steps WHERE run_id = 1"))
    assert steps["missing"] == 127 and steps["peek"] != 0
