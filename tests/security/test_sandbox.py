"""Issue #17 item 1: a step cannot approve its own gate.

The attack: a step (the same OS user as its runner) starts a detached process that writes
an `approve` command in the name of the gate's approver into the history file.  Steps run
under Landlock (flowtui/engine/sandbox.py), so that process cannot open the history; and a
row written by anything but flowtui's own commands carries no valid seal
(flowtui/store/seal.py), so the runner refuses it.  What a step keeps: its own workspace,
its working folder, $HOME, and a TMPDIR.
"""

from __future__ import annotations

import sqlite3
import sys
import time
from pathlib import Path

import pytest

from flowtui.engine import sandbox
from tests.cli.conftest import Cli

from .conftest import write

pytestmark = pytest.mark.skipif(sandbox.abi_version() == 0, reason="this kernel offers no Landlock")

FORGER = """\
import sqlite3, sys, time
db, report = sys.argv[1], sys.argv[2]
result = "never held"
for _ in range(300):
    try:
        conn = sqlite3.connect(db, timeout=5)
        held = conn.execute(
            "SELECT run_id FROM steps WHERE name = 'gate' AND status = 'held'"
        ).fetchone()
        if held:
            conn.execute(
                "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
                " VALUES (?, 'approve', 'gate', 'alice', 'lgtm', ?)",
                (held[0], time.time()),
            )
            conn.commit()
            result = "inserted"
            break
    except Exception as exc:
        result = f"error: {exc}"
        break
    time.sleep(0.05)
open(report, "w").write(result)
"""

SELF_APPROVE = """\
name: selfapprove
params:
  db: {required: true}
  report: {required: true}
  forger: {required: true}
steps:
  forge:
    run: |
      setsid python3 "$PARAM_FORGER" "$PARAM_DB" "$PARAM_REPORT" > /dev/null 2>&1 &
  gate: {type: approval, approvers: [alice], requires: [forge]}
  apply: {requires: [gate], run: echo APPLIED}
"""


def _data(cli: Cli, tmp_path: Path) -> tuple[Path, Path]:
    """The history in a folder of its own (as by default), reports in another."""
    cli.db = tmp_path / "data" / "history.db"
    cli.env["FLOWTUI_DB"] = str(cli.db)
    out = tmp_path / "out"
    out.mkdir()
    return cli.db, out


def _wait(predicate: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_a_step_cannot_approve_its_own_gate(cli: Cli, tmp_path: Path) -> None:
    db, out = _data(cli, tmp_path)
    forger = out / "forger.py"
    forger.write_text(FORGER)
    report = out / "report.txt"
    wf = write(tmp_path / "selfapprove.yaml", SELF_APPROVE)
    runner = cli.start(
        "run", str(wf), "-p", f"db={db}", "-p", f"report={report}", "-p", f"forger={forger}"
    )
    try:
        _wait(report.exists)
        _wait(lambda: report.read_text() != "")
        assert report.read_text().startswith("error: unable to open database file")
        assert cli.step_status(1, "gate") == "held"
        assert cli.query("SELECT COUNT(*) FROM commands") == [(0,)]
        assert cli("cancel", "1").returncode == 0
        runner.communicate(timeout=30)
    finally:
        runner.kill()
    assert cli.step_status(1, "apply") == "pending"
    assert cli.query("SELECT COUNT(*) FROM approvals") == [(0,)]
    assert not cli.query("SELECT 1 FROM logs WHERE line = 'APPLIED'")


GATE = """\
name: gate
steps:
  gate: {type: approval, approvers: [alice]}
  apply: {requires: [gate], run: echo APPLIED}
"""


def test_a_decision_without_a_valid_seal_is_refused_and_a_real_one_is_honoured(
    cli: Cli, tmp_path: Path
) -> None:
    db, _ = _data(cli, tmp_path)
    wf = write(tmp_path / "gate.yaml", GATE)
    runner = cli.start("run", str(wf))
    try:
        cli.wait_for(lambda: cli.step_status(1, "gate") == "held")
        # written from outside any sandbox (as where the kernel has no Landlock)
        with sqlite3.connect(db, timeout=10) as conn:
            conn.execute(
                "INSERT INTO commands (run_id, kind, step, by_user, comment, created_at)"
                " VALUES (1, 'approve', 'gate', 'alice', 'forged', ?)",
                (time.time(),),
            )
        cli.wait_for(lambda: cli.query("SELECT 1 FROM logs WHERE line LIKE 'refused %'"))
        (line,) = cli.query("SELECT line FROM logs WHERE line LIKE 'refused %'")
        assert str(line[0]).startswith(
            "refused a approve command in the name of alice: it carries no valid seal"
        )
        assert cli.step_status(1, "gate") == "held"

        cli.env["FLOWTUI_TRUST_AS"] = "1"
        approved = cli("approve", "1", "gate", "--as", "alice", "-m", "real")
        assert approved.returncode == 0, approved.stderr
        _, err = runner.communicate(timeout=30)
        assert runner.returncode == 0, err
    finally:
        runner.kill()
    assert cli.query("SELECT by_user, comment FROM approvals") == [("alice", "real")]
    assert cli.query("SELECT 1 FROM logs WHERE line = 'APPLIED'")
    key = db.with_name("history.db.key")
    assert key.stat().st_mode & 0o777 == 0o600


PROBE = """\
name: probe
params:
  db: {required: true}
  other: {required: true}
  py: {required: true}
steps:
  probe:
    run: |
      check() { if eval "$2" > /dev/null 2>&1; then echo "$1 yes"; else echo "$1 no"; fi; }
      check db "cat '$PARAM_DB'"
      check wal "echo x >> '$PARAM_DB-wal'"
      check key "cat '$PARAM_DB.key'"
      check other "cat '$PARAM_OTHER'"
      check remove "rm -f '$PARAM_DB'"
      check own "echo x > '$FLOWTUI_WORKSPACE/mine' && cat '$FLOWTUI_WORKSPACE/mine'"
      check tmp "f=$(mktemp) && echo x > \\"\\$f\\""
      check cwd "echo x > ./made-here && cat ./made-here"
      check home "ls \\"\\$HOME\\""
      "$PARAM_PY" -m flowtui history --db "$PARAM_DB" 2>&1 | tail -1 || true
"""


def test_what_a_step_can_and_cannot_reach(cli: Cli, tmp_path: Path) -> None:
    db, _ = _data(cli, tmp_path)
    (tmp_path / "wf").mkdir()
    wf = write(tmp_path / "wf" / "probe.yaml", PROBE)
    other = db.parent / "workspaces" / "1" / "left-by-run-1.txt"
    args = ["-p", f"db={db}", "-p", f"other={other}", "-p", f"py={sys.executable}"]
    first = cli("run", str(wf), *args)
    assert first.returncode == 0, first.stderr
    other.write_text("run 1's file")
    second = cli("run", str(wf), *args)
    assert second.returncode == 0, second.stderr
    lines = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE run_id = 2 ORDER BY id")]
    assert lines[:9] == [
        "db no",
        "wal no",
        "key no",
        "other no",
        "remove no",
        "own yes",
        "tmp yes",
        "cwd yes",
        "home yes",
    ]
    assert "from inside the step 'probe'" in lines[9] and "type: workflow" in lines[9]
    assert db.exists() and (tmp_path / "wf" / "made-here").exists()


def test_without_landlock_the_runner_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "abi_version", lambda: 0)
    note = sandbox.warning()
    assert note is not None and "no Landlock" in note and "steps run unrestricted" in note


def test_a_step_working_beside_the_history_is_told_why_it_cannot_create_files(
    cli: Cli, tmp_path: Path
) -> None:
    db, _ = _data(cli, tmp_path)
    db.parent.mkdir()
    wf = write(db.parent / "here.yaml", "name: here\nsteps:\n  s: {run: echo x > made}\n")
    done = cli("run", str(wf))
    assert done.returncode == 1
    assert "note: this step cannot create files directly in its working folder" in done.stdout
    assert "keep the history in a folder of its own" in done.stdout
    assert not (db.parent / "made").exists()
