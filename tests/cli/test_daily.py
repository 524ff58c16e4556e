"""The command line as a daily tool, as a person uses it: real `python -m flowtui` processes
on one history (filters, part of a workflow, detach/attach, init, help, completions)."""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from flowtui.cli.main import build_parser
from tests.cli.conftest import Cli
from tests.processes import Lines

PIPELINE = """
name: pipeline
steps:
  lint: {run: echo linting}
  build: {run: echo building}
  test: {requires: [build], run: echo testing}
  deploy: {requires: [test, lint], run: echo deployed}
"""


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def commands(parser: argparse.ArgumentParser | None = None) -> list[str]:
    """Every command line `--help` is asked of: `run`, `db local`, …"""
    found: list[str] = []
    for action in (parser or build_parser())._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                if not name.startswith("_"):
                    found += [name, *(f"{name} {n}" for n in commands(sub))]
    return found


# -- help and mistakes -------------------------------------------------------------------
@pytest.mark.parametrize("command", commands())
def test_every_command_help_ends_with_examples(cli: Cli, command: str) -> None:
    result = cli(*command.split(), "--help")
    assert result.returncode == 0, result.stderr
    tail = result.stdout.rstrip().split("\nexamples:\n")
    assert len(tail) == 2, f"`flowtui {command} --help` has no examples:\n{result.stdout}"
    examples = [line.strip() for line in tail[1].splitlines()]
    assert 2 <= len(examples) <= 3
    assert all(e.startswith("flowtui") or e.startswith("source") for e in examples)
    # an example names only options the command has
    for example in examples:
        if f"flowtui {command} " in example:
            for option in re.findall(r" (--[a-z-]+)", example.split("#")[0]):
                assert option in result.stdout.split("examples:")[0], (command, option)


def test_unknown_command_suggests_the_closest(cli: Cli) -> None:
    result = cli("histroy")
    assert result.returncode == 2
    assert "unknown command 'histroy'; did you mean 'history'?" in result.stderr


def test_db_is_accepted_before_the_command(cli: Cli, tmp_path: Path) -> None:
    wf = write(tmp_path / "one.yaml", "name: one\nsteps:\n  a: {run: echo hi}\n")
    other = tmp_path / "other.db"
    result = cli("--db", str(other), "run", str(wf), "-q")
    assert result.returncode == 0, result.stderr
    assert other.exists() and not cli.db.exists()
    assert "#1" in cli("--db", str(other), "history").stdout
    # a --db after the command still wins over the one before it
    assert cli("--db", str(other), "history", "--db", str(cli.db)).stdout.strip() == "no runs"


# -- history / logs / show filters --------------------------------------------------------
def test_history_filters(cli: Cli, tmp_path: Path) -> None:
    good = write(tmp_path / "good.yaml", "name: good\nsteps:\n  a: {run: 'true'}\n")
    bad = write(tmp_path / "bad.yaml", "name: bad\nsteps:\n  a: {run: 'exit 3'}\n")
    assert cli("run", str(good), "-q", "--branch", "main").returncode == 0
    assert cli("run", str(bad), "-q", "--branch", "dev").returncode == 1
    assert cli("run", str(good), "-q", "--branch", "dev").returncode == 0

    def runs(*args: str) -> list[str]:
        result = cli("history", *args)
        assert result.returncode == 0, result.stderr
        return re.findall(r"^#(\d+)", result.stdout, re.M)

    assert runs("--status", "failed") == ["2"]
    assert runs("--status", "succeeded,failed", "--branch", "dev") == ["3", "2"]
    assert runs("--workflow", "good") == ["3", "1"]
    assert runs("good", "--branch", "main") == ["1"]
    assert runs("--trigger", "manual", "--since", "1h") == ["3", "2", "1"]
    assert runs("--trigger", "cron") == []
    assert runs("--until", "2000-01-01") == []
    assert runs("--since", "2000-01-01T00:00") == ["3", "2", "1"]
    paged = cli("history", "--status", "succeeded", "-n", "1")
    assert f"(older: flowtui history --status succeeded --before 3 --db {cli.db})" in paged.stdout
    wrong = cli("history", "--since", "yesterday")
    assert wrong.returncode == 1
    assert "--since 'yesterday': expected a duration" in wrong.stderr
    assert "--status 'broken': expected one of" in cli("history", "--status", "broken").stderr


def test_logs_and_show_filters(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "chatty.yaml",
        """
        name: chatty
        steps:
          build: {run: "echo compiling; echo 'warning: old api' >&2; echo built"}
          test: {requires: [build], run: "for i in 1 2 3 4 5; do echo test $i; done"}
        """,
    )
    assert cli("run", str(wf), "-q").returncode == 0
    tail = cli("logs", "1", "test", "--tail", "2")
    assert tail.stdout.split() == ["│", "test", "4", "│", "test", "5"]
    grep = cli("logs", "last", "--grep", "warn|^test [12]$")
    assert [line.split("│")[1].strip() for line in grep.stdout.splitlines()] == [
        "warning: old api",
        "test 1",
        "test 2",
    ]
    assert cli("logs", "1", "--since", "1h", "--tail", "1").stdout.endswith("│ test 5\n")
    assert cli("logs", "1", "--since", "2099-01-01").stdout == ""
    bad = cli("logs", "1", "--grep", "(")
    assert bad.returncode == 1 and "not a regular expression" in bad.stderr
    show = cli("show", "1", "--step", "build").stdout
    assert "── build" in show and "── test" not in show
    missing = cli("show", "1", "--step", "nope")
    assert missing.returncode == 1 and "run 1 has no step 'nope'; steps: build, test" in (
        missing.stderr
    )


# -- part of a workflow --------------------------------------------------------------------
def test_only_and_skip_are_recorded_and_shown(cli: Cli, tmp_path: Path) -> None:
    wf = write(tmp_path / "pipeline.yaml", PIPELINE)
    only = cli("run", str(wf), "--only", "test")
    assert only.returncode == 0, only.stderr
    assert "testing" in only.stdout and "building" in only.stdout
    assert "linting" not in only.stdout and "deployed" not in only.stdout
    assert re.search(r"lint\s+○ left out\s+-\s+→ skipped by --only", only.stdout)
    assert re.search(r"deploy\s+○ left out\s+-\s+→ skipped by --only", only.stdout)

    skip = cli("run", str(wf), "--skip", "lint,build")
    assert skip.returncode == 0, skip.stderr
    # the steps after a skipped one still run
    assert "deployed" in skip.stdout and "testing" in skip.stdout
    assert "building" not in skip.stdout
    assert cli.query("SELECT left_out FROM runs ORDER BY id") == [
        ('{"lint":"--only","deploy":"--only"}',),
        ('{"lint":"--skip","build":"--skip"}',),
    ]
    history = cli("history").stdout
    assert "LEFT OUT" in history
    assert "lint, build (--skip)" in history and "lint, deploy (--only)" in history
    assert "Left out: lint, build (--skip)" in cli("show", "2").stdout

    # a rerun runs the same part of the workflow
    rerun = cli("rerun", "2", "--from-start")
    assert rerun.returncode == 0, rerun.stderr
    assert "building" not in rerun.stdout and "deployed" in rerun.stdout
    assert "Left out: lint, build (--skip)" in cli("show", "3").stdout

    typo = cli("run", str(wf), "--only", "tset")
    assert typo.returncode == 1
    assert "--only tset: pipeline has no step 'tset'; did you mean 'test'?" in typo.stderr
    both = cli("run", str(wf), "--only", "deploy", "--skip", "deploy")
    assert both.returncode == 1 and "deploy: given to both --only and --skip" in both.stderr
    none = cli("run", str(wf), "--skip", "lint,build,test,deploy")
    assert none.returncode == 1 and "leave no step to run" in none.stderr


# -- detach and attach ---------------------------------------------------------------------
def test_detach_returns_at_once_and_attach_follows_to_the_end(cli: Cli, tmp_path: Path) -> None:
    cli.env["XDG_DATA_HOME"] = str(tmp_path / "data")
    wf = write(
        tmp_path / "gated.yaml",
        """
        name: gated
        steps:
          plan: {run: echo planned}
          gate: {type: approval, requires: [plan]}
          apply: {requires: [gate], run: echo applied}
        """,
    )
    started = cli("run", str(wf), "--detach")
    assert started.returncode == 0, started.stderr
    assert started.stdout == "1\n"
    assert "flowtui attach 1" in started.stderr
    log = next((tmp_path / "data" / "flowtui" / "detached").glob("run-*.log"))
    assert stat.S_IMODE(log.stat().st_mode) == 0o600
    pid = int(re.search(r"pid (\d+)", started.stderr).group(1))  # type: ignore[union-attr]
    assert os.getsid(pid) == pid  # a session of its own: the terminal closing leaves it be
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")

    attach = cli.start("attach", "1")
    lines = Lines(attach)
    lines.wait_for(r"plan\s+│ planned")
    lines.wait_for(r"approve: flowtui approve 1 gate")
    # Ctrl-C detaches: the run goes on
    attach.send_signal(signal.SIGINT)
    assert attach.wait(15) == 130
    lines.wait_for(r"detached from run 1; it goes on")
    assert cli.step_status(1, "gate") == "held"

    attach = cli.start("attach", "last")
    lines = Lines(attach)
    lines.wait_for(r"gate\s+⏸ held")
    last = cli.query("SELECT line FROM logs WHERE run_id = 1 ORDER BY id DESC LIMIT 1")[0][0]
    follow = cli.start("logs", "1", "-f", "--tail", "1")
    followed = Lines(follow)
    followed.wait_for(re.escape(str(last)))  # the held run writes nothing meanwhile
    assert followed.seen[0].rstrip().endswith(str(last))  # the last line, not the first
    assert cli("approve", "1").returncode == 0
    lines.wait_for(r"apply\s+│ applied")
    lines.wait_for(r"Status: succeeded")
    assert attach.wait(15) == 0
    followed.wait_for(r"apply\s+│ applied")
    assert follow.wait(15) == 0
    assert "applied" in log.read_text()


def test_detach_says_why_a_run_did_not_start(cli: Cli, tmp_path: Path) -> None:
    cli.env["XDG_DATA_HOME"] = str(tmp_path / "data")
    wf = write(tmp_path / "draft.yaml", "name: draft\nstatus: draft\nsteps:\n  a: {run: 'true'}\n")
    result = cli("run", str(wf), "--detach")
    assert result.returncode == 1
    assert "the background run did not start" in result.stderr
    assert "draft" in result.stderr


# -- init ----------------------------------------------------------------------------------
def test_init_writes_an_example_that_runs_and_never_overwrites(cli: Cli, tmp_path: Path) -> None:
    result = cli("init", "proj")
    assert result.returncode == 0, result.stderr
    example = tmp_path / "proj" / "workflows" / "hello-deploy.yaml"
    assert f"wrote {Path('proj') / 'workflows' / 'hello-deploy.yaml'}" in result.stdout
    assert "flowtui run hello-deploy" in result.stdout
    assert cli("validate", str(example)).returncode == 0
    example.write_text(example.read_text() + "# mine\n")
    again = cli("init", "proj")
    assert again.returncode == 0 and "already exists: left as it is" in again.stdout
    assert example.read_text().endswith("# mine\n")

    (tmp_path / "odd").mkdir()
    (tmp_path / "odd" / "workflows").write_text("")
    odd = cli("init", "odd")
    assert odd.returncode == 1 and "odd/workflows is a file" in odd.stderr

    cli.cwd = tmp_path / "proj"
    run = cli.start("run", "hello-deploy", "-q")
    lines = Lines(run)
    lines.wait_for(r"approve: flowtui approve 1 approve")
    assert cli("approve", "last").returncode == 0
    assert run.wait(30) == 0
    lines.wait_for(r"apply\s+✓ succeeded")


# -- completion ----------------------------------------------------------------------------
def _complete(cli: Cli, script: Path, line: str) -> list[str]:
    """What bash offers for `line` (the cursor at its end) with the completion loaded."""
    words = line.split(" ")
    program = (
        f"source {script}\n"
        f"COMP_WORDS=({' '.join(repr(w) for w in words)})\n"
        f"COMP_CWORD={len(words) - 1}\n"
        "_flowtui\n"
        'printf "%s\\n" "${COMPREPLY[@]}"\n'
    )
    flowtui = cli.cwd / "bin" / "flowtui"
    if not flowtui.exists():  # `flowtui` on PATH, as the script calls it
        flowtui.parent.mkdir(exist_ok=True)
        flowtui.write_text(f'#!/bin/sh\nexec {sys.executable} -m flowtui "$@"\n')
        flowtui.chmod(0o755)
    env = {**cli.env, "PATH": f"{flowtui.parent}:{os.environ['PATH']}"}
    result = subprocess.run(
        ["bash", "--norc", "-c", program],
        capture_output=True,
        text=True,
        env=env,
        cwd=cli.cwd,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return sorted(w for w in result.stdout.splitlines() if w)


@pytest.mark.skipif(shutil.which("bash") is None, reason="needs bash")
def test_bash_completion_completes_commands_options_and_history_words(
    cli: Cli, tmp_path: Path
) -> None:
    script = tmp_path / "flowtui.bash"
    result = cli("completion", "bash")
    assert result.returncode == 0
    script.write_text(result.stdout)
    (tmp_path / "workflows").mkdir()
    write(tmp_path / "workflows" / "gated.yaml", "name: gated\nsteps:\n  gate: {type: approval}\n")
    run = cli.start("run", "gated")
    cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
    try:
        assert _complete(cli, script, "flowtui hi") == ["history"]
        assert "--since" in _complete(cli, script, "flowtui history --s")
        assert _complete(cli, script, "flowtui run --o") == ["--only", "--orbs-dir"]
        assert "gated" in _complete(cli, script, "flowtui run ga")
        assert _complete(cli, script, "flowtui show ") == ["1", "last"]
        assert _complete(cli, script, "flowtui approve ") == ["1"]
        assert _complete(cli, script, "flowtui approve 1 ") == ["gate"]
        assert _complete(cli, script, "flowtui history --status fa") == ["failed"]
        assert _complete(cli, script, "flowtui completion z") == ["zsh"]
    finally:
        run.send_signal(signal.SIGINT)
        run.communicate(timeout=30)


def test_zsh_and_fish_scripts(cli: Cli) -> None:
    zsh = cli("completion", "zsh").stdout
    assert zsh.startswith("#compdef flowtui") and "bashcompinit" in zsh
    fish = cli("completion", "fish").stdout
    assert "complete -c flowtui -n '__fish_seen_subcommand_from run' -l only" in fish
    assert "(flowtui __complete runs 2>/dev/null)" in fish
    if shutil.which("fish"):
        checked = subprocess.run(["fish", "--no-execute"], input=fish, text=True)
        assert checked.returncode == 0
    if shutil.which("zsh"):
        checked = subprocess.run(["zsh", "-n"], input=zsh, text=True)
        assert checked.returncode == 0
