"""The command lines the CLI prints for a person to type next work as typed: in another
terminal (another folder, no $FLOWTUI_DB) they name the history the run is in, without a
password; with the default history they need no `--db`.  Real `python -m flowtui`
processes."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

from flowtui.cli.hints import db_words
from tests.cli.conftest import Cli

GATE = "name: gate\nsteps:\n  gate: {type: approval}\n  after: {requires: [gate], run: echo b}\n"
OK = "name: ok\nsteps:\n  a: {run: echo a}\n"


def _elsewhere(cli: Cli, hint: str) -> subprocess.CompletedProcess[str]:
    """`hint` typed in another terminal: another folder, no $FLOWTUI_DB."""
    words = shlex.split(hint)
    assert words[0] == "flowtui", hint
    folder = cli.cwd / "elsewhere"
    folder.mkdir(exist_ok=True)
    env = {k: v for k, v in cli.env.items() if k != "FLOWTUI_DB"}
    return subprocess.run(
        [sys.executable, "-m", *words], capture_output=True, text=True, cwd=folder, env=env
    )


def test_the_approve_hint_of_a_run_with_db_works_in_another_terminal(
    cli: Cli, tmp_path: Path
) -> None:
    (tmp_path / "gate.yaml").write_text(GATE)
    del cli.env["FLOWTUI_DB"]
    run = cli.start("run", "gate.yaml", "--db", "team.db")  # a relative path
    try:
        assert run.stdout is not None
        for line in run.stdout:
            if "approve: " in line:
                break
        hint = line.split("approve: ", 1)[1].split("   reject: ")[0].strip()
        assert hint == f"flowtui approve 1 gate --db {tmp_path / 'team.db'}"
        approved = _elsewhere(cli, hint)
        assert approved.returncode == 0, approved.stderr
        out, err = run.communicate(timeout=60)
    finally:
        if run.poll() is None:
            run.kill()
            run.communicate()
    assert run.returncode == 0, out + err


def test_the_rerun_hint_names_the_run_and_the_history(cli: Cli, tmp_path: Path) -> None:
    """`FLOWTUI_DB` set: the hint names the history; the refusal to rerun from the failed
    steps names a command (not the dashboard's key) with the run's id."""
    (tmp_path / "ok.yaml").write_text(OK)
    assert cli("run", "ok.yaml", "-q").returncode == 0
    refused = cli("rerun", "1")
    assert refused.returncode == 1
    hint = f"flowtui rerun 1 --from-start --db {cli.db}"
    assert refused.stderr.rstrip().endswith(f"rerun it from the start instead ({hint})")
    assert "F," not in refused.stderr
    assert cli("rerun", "1", "--dry-run").stderr == refused.stderr
    again = _elsewhere(cli, hint + " -q")
    assert again.returncode == 0, again.stderr
    assert cli.query("SELECT id, status FROM runs ORDER BY id") == [
        (1, "succeeded"),
        (2, "succeeded"),
    ]


def test_with_the_default_history_a_hint_has_no_db(cli: Cli, tmp_path: Path) -> None:
    (tmp_path / "ok.yaml").write_text(OK)
    del cli.env["FLOWTUI_DB"]
    cli.env["XDG_DATA_HOME"] = str(tmp_path / "data")  # the default history, kept in here
    assert cli("run", "ok.yaml", "-q").returncode == 0
    assert (tmp_path / "data" / "flowtui" / "flowtui.db").exists()
    refused = cli("rerun", "last")
    assert refused.stderr.rstrip().endswith("(flowtui rerun 1 --from-start)")


def test_a_hint_never_shows_a_password() -> None:
    url = "postgresql://ann:s3cret@db.example:5433/flow?password=s3cret&sslmode=require"
    assert db_words(url) == " --db 'postgresql://ann@db.example:5433/flow?sslmode=require'"
    assert db_words("postgresql://ann@db.example/flow") == " --db postgresql://ann@db.example/flow"
    assert db_words("sqlite:///srv/flow/h.db") == " --db /srv/flow/h.db"
