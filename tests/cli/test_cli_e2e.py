"""The headless CLI as a person uses it: several terminals, one database."""

from __future__ import annotations

import getpass
import signal
import textwrap
from pathlib import Path

from tests.cli.conftest import Cli
from tests.processes import group_members


def write(path: Path, text: str) -> Path:
    path.write_text(textwrap.dedent(text))
    return path


def test_run_prints_live_progress_and_a_summary(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "deploy.yaml",
        """
        name: deploy
        steps:
          plan:
            run: |
              echo planning
              echo "summary=3 to add, 1 to change, 0 to destroy" >> "$FLOWTUI_OUTPUT"
          apply: {requires: [plan], run: echo applied}
        """,
    )
    result = cli("run", str(wf))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "planning" in out
    assert "Workflow: deploy    Run: 1    Status: succeeded" in out
    assert "plan   ✓ succeeded" in out
    assert "→ 3 to add, 1 to change, 0 to destroy" in out
    assert "→ applied" in out
    assert "Triggered by: manual" in out


def test_failed_run_exits_1_and_says_why(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "bad.yaml",
        """
        name: bad
        steps:
          boom: {run: exit 4}
          after: {requires: [boom], run: echo never}
        """,
    )
    result = cli("run", str(wf), "-q")
    assert result.returncode == 1
    assert "Status: failed" in result.stdout
    assert "exit code 4" in result.stdout
    assert "not run" in result.stdout


def test_validate_reports_file_and_line(cli: Cli, tmp_path: Path) -> None:
    bad = write(
        tmp_path / "cyc.yaml",
        """
        name: cyc
        steps:
          a: {requires: [b], run: "true"}
          b: {requires: [a], run: "true"}
          c: {requires: [nope], run: "true"}
        """,
    )
    good = write(tmp_path / "ok.yaml", "name: ok\nsteps:\n  a: {run: 'true'}\n")
    result = cli("validate", str(bad), str(good))
    assert result.returncode == 1
    assert f"{bad}:6:" in result.stdout  # the unknown requires, on its line
    assert "cycle" in result.stdout
    assert "ok (1 step)" in result.stdout
    assert cli("validate", str(good)).returncode == 0


def test_approve_from_a_second_terminal(cli: Cli, tmp_path: Path) -> None:
    me = getpass.getuser()
    wf = write(
        tmp_path / "gate.yaml",
        f"""
        name: gate
        steps:
          plan: {{run: echo plan}}
          approve: {{type: approval, requires: [plan], approvers: [{me}]}}
          apply: {{requires: [approve], run: echo applied}}
        """,
    )
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "approve") == "held")
        refused = cli("approve", "1", "approve", "--as", "mallory")
        assert refused.returncode == 1 and "not allowed" in refused.stderr
        wrong_step = cli("approve", "1", "plan")
        assert wrong_step.returncode == 1 and "not held" in wrong_step.stderr
        # the only held step may be left out
        ok = cli("approve", "last", "--comment", "ship it")
        assert ok.returncode == 0, ok.stderr
        assert f"approved approve of run 1 (gate) as {me}" in ok.stdout
        out, err = runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert runner.returncode == 0, err
    assert f"approved by {me}: ship it" in out
    history = cli("history")
    assert "#1" in history.stdout and "succeeded" in history.stdout and me in history.stdout


def test_non_approver_is_refused(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "gate.yaml",
        """
        name: gate
        steps:
          approve: {type: approval, approvers: [somebody-else]}
        """,
    )
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "approve") == "held")
        result = cli("approve", "1", "approve")
        assert result.returncode == 1
        assert "may not approve" in result.stderr
        assert cli.step_status(1, "approve") == "held"
        cancel = cli("cancel", "1")
        assert cancel.returncode == 0, cancel.stderr
        assert "cancelled" in cancel.stdout
        runner.communicate(timeout=20)
    finally:
        runner.kill()
    assert runner.returncode == 1


def test_killed_runner_leaves_an_interrupted_run_that_reruns_from_failed(
    cli: Cli, tmp_path: Path
) -> None:
    flag = tmp_path / "second-time"
    wf = write(
        tmp_path / "long.yaml",
        f"""
        name: long
        steps:
          one: {{run: echo one}}
          two: {{requires: [one], run: 'echo started; test -f {flag} || sleep 600'}}
          three: {{requires: [two], run: echo three}}
        """,
    )
    runner = cli.start("run", str(wf))
    cli.wait_for(
        lambda: cli.query("SELECT 1 FROM logs WHERE run_id=1 AND step='two' AND line='started'")
    )
    pgid = cli.wait_for(
        lambda: cli.query("SELECT pgid FROM steps WHERE run_id=1 AND name='two'")[0][0]
    )
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)
    assert group_members(int(pgid)), "the orphaned step should still run until recovery"

    shown = cli("show", "1")
    assert shown.returncode == 0, shown.stderr
    assert "Status: interrupted" in shown.stdout
    assert "was left by a runner that died" in shown.stderr
    assert cli.step_status(1, "one") == "succeeded"
    cli.wait_for(lambda: not group_members(int(pgid)), timeout=10)
    logs = cli("logs", "1", "two")
    assert "started" in logs.stdout

    flag.touch()
    rerun = cli("rerun", "1", "-q")
    assert rerun.returncode == 0, rerun.stdout + rerun.stderr
    assert "Rerun (from-failed) of run 1" in rerun.stdout
    assert cli.step_status(2, "one") == "reused"
    assert cli.step_status(2, "two") == "succeeded"
    assert cli.step_status(2, "three") == "succeeded"


def test_unknown_workflow_name_lists_known_ones(cli: Cli, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    write(folder / "a.yaml", "name: alpha\nsteps:\n  a: {run: 'true'}\n")
    result = cli("run", "beta", "--dir", str(folder))
    assert result.returncode == 1
    assert "alpha" in result.stderr
    ok = cli("run", "alpha", "--dir", str(folder), "-q")
    assert ok.returncode == 0, ok.stderr
    listed = cli("list", str(folder))
    assert "alpha" in listed.stdout and "succeeded" in listed.stdout


def test_a_relative_db_path_still_runs_scripts(cli: Cli, tmp_path: Path) -> None:
    """`--db t.db` puts workspaces beside it; steps run elsewhere must still find them."""
    (tmp_path / "wf").mkdir()
    wf = write(
        tmp_path / "wf" / "rel.yaml",
        """
        name: rel
        steps:
          build: {run: echo built in "$FLOWTUI_WORKSPACE"}
        """,
    )
    result = cli("run", str(wf), "--db", "relative.db")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"built in {tmp_path / 'workspaces'}" in result.stdout


def test_a_reader_that_leaves_early_gets_no_traceback(cli: Cli, tmp_path: Path) -> None:
    """`flowtui logs 1 | head -1` stops quietly when head exits."""
    wf = write(tmp_path / "chatty.yaml", "name: chatty\nsteps:\n  talk: {run: seq 1 50000}\n")
    assert cli("run", str(wf), "-q").returncode == 0
    proc = cli.start("logs", "1")
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=30) == 141
    assert "Traceback" not in err, err


def test_no_command_means_the_dashboard_also_with_options(cli: Cli, tmp_path: Path) -> None:
    """`flowtui DIR` and `flowtui --db X` open the dashboard (here: no terminal, so it says so)."""
    for args in (("--db", str(tmp_path / "x.db")), (str(tmp_path),)):
        result = cli(*args)
        assert result.returncode == 1, result.stderr
        assert "the dashboard needs a terminal" in result.stderr


def test_a_cancel_from_another_terminal_prints_no_reaping_noise(cli: Cli, tmp_path: Path) -> None:
    # steps that die at the first SIGINT: their group is gone before the watcher reaps
    wf = write(
        tmp_path / "sleepy.yaml",
        """
        name: sleepy
        steps:
          a: {run: sleep 60}
          b: {run: sleep 60}
        """,
    )
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "a") == "running")
        cli.wait_for(lambda: cli.step_status(1, "b") == "running")
        cancelled = cli("cancel", "last")
        assert cancelled.returncode == 0, cancelled.stderr
        out, err = runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert "a ⊘ cancelled" in out and "b ⊘ cancelled" in out
    assert "reaped" not in err and err.strip() == "", err


def test_rerun_from_failed_of_a_succeeded_run_is_refused(cli: Cli, tmp_path: Path) -> None:
    wf = write(tmp_path / "ok.yaml", "name: ok\nsteps:\n  a: {run: echo a}\n")
    assert cli("run", str(wf), "-q").returncode == 0
    refused = cli("rerun", "last", "--from-failed")
    assert refused.returncode != 0
    assert "nothing to rerun: no step of run 1 (ok, succeeded) failed" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli.query("SELECT count(*) FROM runs") == [(1,)]
    again = cli("rerun", "last", "--from-start", "-q")
    assert again.returncode == 0, again.stderr


def test_each_outcome_has_one_look_in_run_and_show(cli: Cli, tmp_path: Path) -> None:
    wf = write(
        tmp_path / "mixed.yaml",
        """
        name: mixed
        steps:
          flaky: {run: 'test "$FLOWTUI_ATTEMPT" = 2', retries: 1, retry_delay: 0s}
          lint: {run: exit 3, continue_on_failure: true}
          slow: {run: sleep 5, timeout: 0.2s}
          after_slow: {requires: [slow], run: echo never}
        """,
    )
    ran = cli("run", str(wf), "-q")
    assert ran.returncode == 1
    shown = cli("show", "last")
    for out in (ran.stdout, shown.stdout):
        assert "✓ succeeded (2 attempts)" in out
        assert "✗ allowed failure" in out
        assert "⧗ timed out" in out
        assert "○ not run" in out
        assert "pending" not in out
    assert "Reason: slow timed out" in ran.stdout  # the allowed failure is not the reason


def test_the_dashboard_takes_its_folder_from_the_config_file(cli: Cli, tmp_path: Path) -> None:
    """No DIR given: the config file's `folder` is the one opened (a wrong one is named)."""
    config = tmp_path / "xdg" / "flowtui" / "config.toml"
    config.parent.mkdir(parents=True)
    config.write_text(f'folder = "{tmp_path / "missing"}"\n')
    cli.env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    result = cli("dashboard")
    assert result.returncode == 1
    assert f"{tmp_path / 'missing'} (folder in {config}) is not a folder" in result.stderr
    config.write_text(f'folder = "{tmp_path}"\n')
    result = cli("dashboard")
    assert "the dashboard needs a terminal" in result.stderr, result.stderr


def test_an_unknown_theme_is_refused_before_the_dashboard_starts(cli: Cli, tmp_path: Path) -> None:
    """A mistyped `--theme` (dashboard and web) names the closest theme and the others."""
    for command in (("dashboard",), ("web", "--port", "0")):
        result = cli(*command, str(tmp_path), "--theme", "flowtui-drak")
        assert result.returncode == 1, result.stderr
        assert "--theme: unknown theme 'flowtui-drak'; did you mean `flowtui-dark`?" in (
            result.stderr
        )
        assert "nord" in result.stderr  # the names it may take
    # a known one goes on (here to the terminal check)
    result = cli("dashboard", str(tmp_path), "--theme", "nord")
    assert "the dashboard needs a terminal" in result.stderr, result.stderr


def test_a_run_whose_reader_leaves_goes_on_to_its_end(cli: Cli, tmp_path: Path) -> None:
    """`flowtui run chatty | head -1`: the console stops printing, the run does not — it
    ends as it would have and is recorded whole (before, the closed pipe's error inside
    the console left the run failed with its step `running` for ever)."""
    wf = write(
        tmp_path / "chatty.yaml",
        "name: chatty\nsteps:\n  talk: {run: seq 1 50000}\n"
        "  after: {requires: [talk], run: echo done}\n",
    )
    proc = cli.start("run", str(wf))
    assert proc.stdout is not None and proc.stderr is not None
    assert proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read()
    assert proc.wait(timeout=60) == 0, err
    assert "Traceback" not in err and "internal error" not in err, err
    assert cli.query("SELECT status FROM runs WHERE id = 1") == [("succeeded",)]
    assert cli.step_status(1, "talk") == "succeeded" and cli.step_status(1, "after") == "succeeded"
    assert cli.query("SELECT COUNT(*) FROM logs WHERE step = 'talk'") == [(50000,)]


def test_a_progress_bar_shows_its_last_text_and_raw_keeps_every_byte(
    cli: Cli, tmp_path: Path
) -> None:
    """A step rewriting its line with carriage returns: `run`, `logs` and `show` print the
    text it ends with after flowtui's prefix (which a carriage return never hides); `--raw`
    prints the bytes, and the history keeps them."""
    wf = write(
        tmp_path / "bar.yaml",
        """
        name: bar
        steps:
          fetch:
            run: printf 'progress 10%%\\rprogress 50%%\\rprogress 100%%\\nfetched\\n'
        """,
    )
    ran = cli("run", str(wf))
    assert ran.returncode == 0, ran.stderr
    assert "fetch │ progress 100%\n" in ran.stdout and "10%" not in ran.stdout
    for args in (("logs", "1"), ("show", "1")):
        out = cli(*args).stdout
        assert "│ progress 100%\n" in out and "50%" not in out and "␍" not in out, out
    raw = cli("logs", "1", "--raw").stdout  # (read as text: its \r became \n)
    assert "│ progress 10%\nprogress 50%\nprogress 100%\n" in raw
    stored = cli.query("SELECT line FROM logs WHERE step = 'fetch' ORDER BY id")
    assert stored[0] == ("progress 10%\rprogress 50%\rprogress 100%",)
