"""Issue #17 item 1: a step cannot approve its own gate.

The attack: a step (the same OS user as its runner) starts a detached process that writes
an `approve` command in the name of the gate's approver into the history file.  Steps run
in a bwrap mount namespace, or under Landlock where bwrap cannot be used
(flowtui/engine/sandbox.py), so that process cannot open the history; and a row written by
anything but flowtui's own commands carries no valid seal (flowtui/store/seal.py), so the
runner refuses it.  What a step keeps: its own workspace, its working folder, $HOME, and a
TMPDIR — under bwrap, every path but the history's, as it was.
"""

from __future__ import annotations

import os
import sqlite3
import sys
import time
from pathlib import Path

import psutil
import pytest

from flowtui.engine import mountns, sandbox
from flowtui.engine.executors.toolrun import find_program
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow_text
from tests.cli.conftest import Cli

from .conftest import write

needs_bwrap = pytest.mark.skipif(not mountns.usable(), reason="bwrap cannot be used here")
needs_landlock = pytest.mark.skipif(sandbox.abi_version() == 0, reason="no Landlock here")


@pytest.fixture(
    params=[
        pytest.param("bwrap", marks=needs_bwrap),
        pytest.param("spawner", marks=needs_bwrap),
        pytest.param("landlock", marks=needs_landlock),
    ]
)
def way(request: pytest.FixtureRequest, cli: Cli) -> str:
    """Each guarantee under each way of keeping steps away: a bwrap per step, the run's one
    sandbox (its spawner: every step waits for it here), Landlock (an empty FLOWTUI_BWRAP
    makes the runner do without bwrap)."""
    if request.param == "landlock":
        cli.env[mountns.BWRAP_ENV] = ""
    cli.env[sandbox.SPAWNER_ENV] = "wait" if request.param == "spawner" else "0"
    return str(request.param)


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


def test_a_step_cannot_approve_its_own_gate(cli: Cli, tmp_path: Path, way: str) -> None:
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
        # the forger may fail before the gate is reached (under bwrap at once): wait for it
        _wait(lambda: cli.step_status(1, "gate") == "held")
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
      check remove "rm '$PARAM_DB'"
      check own "echo x > '$FLOWTUI_WORKSPACE/mine' && cat '$FLOWTUI_WORKSPACE/mine'"
      check tmp "f=$(mktemp) && echo x > \\"\\$f\\""
      check cwd "echo x > ./made-here && cat ./made-here"
      check home "ls \\"\\$HOME\\""
      "$PARAM_PY" -m flowtui history --db "$PARAM_DB" 2>&1 | tail -1 || true
"""


def test_what_a_step_can_and_cannot_reach(cli: Cli, tmp_path: Path, way: str) -> None:
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
    rows = cli.query("SELECT line FROM logs WHERE run_id = 2 AND step = 'probe' ORDER BY id")
    lines = [str(r[0]) for r in rows]
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


def test_without_bwrap_or_landlock_the_runner_warns(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sandbox, "abi_version", lambda: 0)
    monkeypatch.setattr(mountns, "usable", lambda: False)
    note = sandbox.warning()
    assert note is not None and "steps run unrestricted" in note
    assert "bubblewrap (bwrap) is not installed" in note and "no Landlock" in note
    # with Landlock only: its limit is named, so a "Permission denied" in $HOME is explained
    monkeypatch.setattr(sandbox, "abi_version", lambda: 4)
    note = sandbox.warning()
    assert note is not None and "sandboxed with Landlock" in note and "install bubblewrap" in note


@needs_landlock
def test_under_landlock_a_step_working_beside_the_history_is_told_why_it_cannot_create_files(
    cli: Cli, tmp_path: Path
) -> None:
    cli.env[mountns.BWRAP_ENV] = ""
    db, _ = _data(cli, tmp_path)
    db.parent.mkdir()
    wf = write(db.parent / "here.yaml", "name: here\nsteps:\n  s: {run: echo x > made}\n")
    done = cli("run", str(wf))
    assert done.returncode == 1
    assert "note: this step cannot create files directly in its working folder" in done.stdout
    assert "keep the history in a folder of its own" in done.stdout
    assert not (db.parent / "made").exists()


SAMPLES = Path(__file__).resolve().parents[2] / "sample_workflows"


def _fresh_home(cli: Cli, tmp_path: Path) -> Path:
    """HOME a new empty folder, the history in its default place under it."""
    home = tmp_path / "home"
    home.mkdir()
    for name in ("FLOWTUI_DB", "XDG_DATA_HOME"):
        cli.env.pop(name, None)
    cli.env["HOME"] = str(home)
    cli.db = home / ".local" / "share" / "flowtui" / "flowtui.db"
    return home


@needs_bwrap
@pytest.mark.skipif(
    find_program("ansible-playbook", os.environ) is None, reason="needs ansible-playbook"
)
def test_the_ansible_sample_runs_on_a_fresh_home(cli: Cli, tmp_path: Path) -> None:
    # ansible makes ~/.ansible/tmp on first use: Landlock's allow-list forbade that
    home = _fresh_home(cli, tmp_path)
    done = cli("run", str(SAMPLES / "infra-ansible.yaml"), timeout=300)
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / ".ansible" / "tmp").is_dir()
    assert cli.step_status(1, "configure") == "succeeded"


HOME_MAKER = """\
name: home
steps:
  make:
    run: |
      mkdir "$HOME/.newtool" && touch "$HOME/.local/new" "$HOME/.local/share/new" && echo made
      db="$HOME/.local/share/flowtui/flowtui.db"
      if cat "$db" > /dev/null 2>&1; then echo seen; else echo hidden; fi
"""


@needs_bwrap
def test_a_step_creates_new_folders_in_home_beside_a_hidden_history(
    cli: Cli, tmp_path: Path
) -> None:
    home = _fresh_home(cli, tmp_path)
    done = cli("run", str(write(tmp_path / "home.yaml", HOME_MAKER)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (home / ".newtool").is_dir()
    assert (home / ".local" / "new").exists() and (home / ".local" / "share" / "new").exists()
    lines = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step = 'make'")]
    assert lines == ["made", "hidden"]


UNCOVER = """\
name: uncover
params:
  db: {required: true}
steps:
  uncover:
    run: |
      check() { if eval "$2" > /dev/null 2>&1; then echo "$1 yes"; else echo "$1 no"; fi; }
      data=$(dirname "$PARAM_DB")
      # up from the step: the run's spawner (if any), bwrap, then the runner
      runner=$PPID
      while tr '\\0' ' ' < /proc/$runner/cmdline | grep -q 'bwrap\\|flowtui-spawner'; do
        case "$(cat /proc/$runner/comm)" in bwrap) bwrap=$runner;; esac
        runner=$(cut -d' ' -f4 /proc/$runner/stat)
      done
      check runner "test -d /proc/$runner && test -n '$bwrap'"
      check umount "umount '$data'; cat '$PARAM_DB'"
      check lazy "umount -l '$data'; cat '$PARAM_DB'"
      check userns "unshare -Urm sh -c \\"umount -l '$data'; cat '$PARAM_DB'\\""
      check proc "cat '/proc/$runner/root$PARAM_DB'"
      check bwrap "cat '/proc/$bwrap/root$PARAM_DB'"
      check fds "readlink /proc/$runner/fd/* | grep -q history.db"
      check db "cat '$PARAM_DB'"
"""


@needs_bwrap
def test_a_step_cannot_uncover_the_history(cli: Cli, tmp_path: Path, way: str) -> None:
    # no capabilities and no_new_privs: no umount; in a user namespace of its own the
    # covers are locked; the runner's (and bwrap's) /proc entries are not its to read
    if way == "landlock":
        pytest.skip("covers are bwrap's")
    db, _ = _data(cli, tmp_path)
    done = cli("run", str(write(tmp_path / "uncover.yaml", UNCOVER)), "-p", f"db={db}")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step = 'uncover'")]
    assert lines == [
        "runner yes",
        "umount no",
        "lazy no",
        "userns no",
        "proc no",
        "bwrap no",
        "fds no",
        "db no",
    ]


LONG = """\
name: long
params:
  out: {required: true}
steps:
  long:
    run: |
      sleep 600 & echo $! > "$PARAM_OUT/child"
      echo $$ > "$PARAM_OUT/shell"
      wait
"""


def _gone(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() == psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return True


def test_cancel_stops_the_whole_group_of_a_sandboxed_step(
    cli: Cli, tmp_path: Path, way: str
) -> None:
    _, out = _data(cli, tmp_path)
    runner = cli.start("run", str(write(tmp_path / "long.yaml", LONG)), "-p", f"out={out}")
    try:
        _wait(lambda: (out / "child").exists() and (out / "shell").exists())
        _wait(lambda: (out / "child").read_text().strip() and (out / "shell").read_text().strip())
        pids = [int((out / n).read_text()) for n in ("child", "shell")]
        assert all(not _gone(p) for p in pids)
        assert cli("cancel", "1").returncode == 0
        runner.communicate(timeout=30)
    finally:
        runner.kill()
    _wait(lambda: all(_gone(p) for p in pids))
    assert cli.step_status(1, "long") == "cancelled"


OPTED_OUT = """\
name: sudoer
params:
  db: {required: true}
{top}steps:
  free:
    {own}run: if cat "$PARAM_DB" > /dev/null; then echo seen; fi
  kept:
    requires: [free]
    sandbox: true
    run: if cat "$PARAM_DB" > /dev/null 2>&1; then echo seen; else echo hidden; fi
"""


@pytest.mark.parametrize(
    ("top", "own"),
    [("", "sandbox: false\n    "), ("sandbox: false\n", "")],
    ids=["step", "workflow"],
)
def test_sandbox_false_lets_a_step_reach_the_history_and_says_so(
    cli: Cli, tmp_path: Path, top: str, own: str
) -> None:
    db, _ = _data(cli, tmp_path)
    wf = write(tmp_path / "sudoer.yaml", OPTED_OUT.replace("{top}", top).replace("{own}", own))
    done = cli("run", str(wf), "-p", f"db={db}")
    assert done.returncode == 0, done.stdout + done.stderr
    free = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step = 'free'")]
    assert free == ["not sandboxed: sandbox: false", "seen"]
    kept = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step = 'kept'")]
    assert kept == ["hidden"]


def test_a_bad_sandbox_value_is_refused_at_file_line() -> None:
    text = "name: t\nsteps:\n  a: {run: x, sandbox: maybe}\n"
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text(text, file="w.yaml")
    assert "w.yaml:3:24: error: " in str(caught.value) and "true or false" in str(caught.value)
    with pytest.raises(WorkflowError) as caught:
        load_workflow_text("name: t\nsandbox: no way\nsteps:\n  a: {run: x}\n", file="w.yaml")
    assert "w.yaml:2:10: error: " in str(caught.value)


BESIDE = """\
name: here
steps:
  s:
    run: |
      echo x > made
      for f in history.db history.db-wal history.db-shm history.db.key; do
        if [ -s "$f" ]; then echo "$f seen"; fi
        if echo x >> "$f"; then echo "$f written"; fi
        if rm -f "$f"; then echo "$f removed"; fi
      done
      if echo planted > history.db-journal; then echo "journal planted"; fi
      echo done
"""


@needs_bwrap
def test_under_bwrap_a_history_among_other_files_is_covered_file_by_file(
    cli: Cli, tmp_path: Path
) -> None:
    # the history's folder also holds the workflow: it stays open to the step, but the
    # history's own files (and a missing -journal) are /dev/null to it
    db, _ = _data(cli, tmp_path)
    db.parent.mkdir()
    done = cli("run", str(write(db.parent / "here.yaml", BESIDE)))
    assert done.returncode == 0, done.stdout + done.stderr
    assert (db.parent / "made").read_text() == "x\n"
    out = "SELECT line FROM logs WHERE step = 's' AND stream = 'stdout'"
    assert [str(r[0]) for r in cli.query(out)] == ["done"]
    assert db.exists() and db.with_name("history.db.key").stat().st_size > 0
    journal = db.with_name("history.db-journal")
    assert journal.stat().st_size == 0 and journal.stat().st_mode & 0o777 == 0o600


def test_covers_make_placeholders_only_for_the_historys_own_companions(tmp_path: Path) -> None:
    (tmp_path / "h").write_text("history")
    (tmp_path / "other.txt").write_text("not flowtui's")
    hidden = [tmp_path / n for n in ("h", "h-wal", "h-journal", "h.key", "hworkspaces")]
    options = mountns.covers(hidden, tmp_path / "hworkspaces" / "1", tmp_path)
    covered = [options[i + 2] for i, o in enumerate(options) if o == "--ro-bind"]
    assert covered == [str(tmp_path / n) for n in ("h", "h-journal", "h-wal", "h.key")]
    assert (tmp_path / "h-journal").stat().st_size == 0
    assert not (tmp_path / "hworkspaces").exists()  # a folder to be, not a companion
    # once the folder holds only the history's files, it is covered whole
    (tmp_path / "other.txt").unlink()
    whole = mountns.covers(hidden, tmp_path.parent / "elsewhere", Path("/"))
    assert whole == ["--tmpfs", str(tmp_path), "--remount-ro", str(tmp_path)]
    # also for a step working in its own workspace there (bound back in)
    own = tmp_path / "hworkspaces" / "1"
    own.mkdir(parents=True)
    inside = mountns.covers(hidden, own, own)
    assert inside == ["--tmpfs", str(tmp_path), "--bind", str(own), str(own), *whole[2:]]
    # but not for one working elsewhere in it: that folder would vanish under it
    elsewhere = mountns.covers(hidden, own, tmp_path)
    assert str(tmp_path) not in elsewhere and elsewhere[-3:-1] == ["--ro-bind", "/dev/null"]
