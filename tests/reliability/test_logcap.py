"""A step that prints far more than the cap: the head and tail are stored, the middle counted."""

from __future__ import annotations

import sqlite3
import textwrap
import tracemalloc
from pathlib import Path

import pytest

from flowtui.engine.events import Event, LogTrimmed, StepLog, StepStatusChanged
from flowtui.engine.logcap import TRIM_SLACK, LogCap, LogLimits, omitted_line, parse_size
from flowtui.engine.states import StepStatus
from flowtui.store.apply import _apply_batch
from tests.cli.conftest import Cli


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    return Cli(tmp_path)


def _chatty(folder: Path, lines: int, width: int = 0) -> Path:
    path = folder / "chatty.yaml"
    pad = "x" * width
    path.write_text(
        textwrap.dedent(
            f"""\
            name: chatty
            steps:
              talk:
                shell: python
                run: |
                  for i in range({lines}):
                      print(f"line {{i}} {pad}")
              after: {{requires: [talk], run: echo done}}
            """
        )
    )
    return path


def test_lines_cap_keeps_head_and_tail_with_one_marker(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", str(_chatty(tmp_path, 5000)), "--max-log-lines", "100", "-q")
    assert result.returncode == 0, result.stdout + result.stderr
    stored = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step='talk' ORDER BY id")]
    assert stored[:50] == [f"line {i} " for i in range(50)]
    assert stored[51:] == [f"line {i} " for i in range(4950, 5000)]
    marker = stored[50]
    assert marker.startswith("… 4,900 lines (") and marker.endswith(") omitted …")
    assert cli.query("SELECT status FROM runs") == [("succeeded",)]

    show = cli("show", "1")
    assert "log: 4,900 lines (" in show.stdout, show.stdout
    assert "line 4999" in show.stdout  # the tail is what `show` prints
    logs = cli("logs", "1", "talk")
    printed = logs.stdout.splitlines()
    assert len(printed) == 101 and "omitted" in printed[50]


def test_bytes_cap_counts_the_omitted_size(cli: Cli, tmp_path: Path) -> None:
    wf = _chatty(tmp_path, 2000, width=1000)  # about 2 MB
    result = cli("run", str(wf), "--max-log-bytes", "64k", "--max-log-lines", "0", "-q")
    assert result.returncode == 0, result.stderr
    rows = cli.query("SELECT line FROM logs WHERE step='talk' ORDER BY id")
    size = sum(len(str(r[0])) + 1 for r in rows)
    assert size < 70 * 1024
    (marker,) = [str(r[0]) for r in rows if "omitted" in str(r[0])]
    assert marker.endswith("MB) omitted …") and marker.startswith("… 1,9")
    assert str(rows[-1][0]).startswith("line 1999 ")


def test_without_a_cap_everything_is_stored(cli: Cli, tmp_path: Path) -> None:
    result = cli("run", str(_chatty(tmp_path, 3000)), "--max-log-lines", "0", "-q")
    assert result.returncode == 0, result.stderr
    assert cli.query("SELECT COUNT(*) FROM logs WHERE step='talk'") == [(3000,)]


def test_the_environment_sets_the_default_cap(cli: Cli, tmp_path: Path) -> None:
    cli.env["FLOWTUI_MAX_LOG_LINES"] = "10"
    result = cli("run", str(_chatty(tmp_path, 500)), "-q")
    assert result.returncode == 0, result.stderr
    assert cli.query("SELECT COUNT(*) FROM logs WHERE step='talk'") == [(11,)]


def _stored(events: list[Event], db: sqlite3.Connection | None = None) -> list[str]:
    """The log lines a history holds after the store applied `events` (its own code)."""
    db = db or sqlite3.connect(":memory:")
    db.execute(
        "CREATE TABLE IF NOT EXISTS logs (id INTEGER PRIMARY KEY, run_id INTEGER, step TEXT,"
        " attempt INTEGER, stream TEXT, line TEXT, at REAL)"
    )
    _apply_batch(db, [e for e in events if isinstance(e, StepLog | LogTrimmed)])
    return [str(r[0]) for r in db.execute("SELECT line FROM logs ORDER BY id")]


def test_memory_stays_bounded_and_the_history_holds_head_marker_and_tail() -> None:
    cap = LogCap(LogLimits(max_lines=1000, max_bytes=1024 * 1024))
    db = sqlite3.connect(":memory:")
    peak = 0
    for chunk in range(40):  # about 4 MB of log, 40 times the cap, in batches of 1,000
        tracemalloc.start()  # the cap's memory (and the batch's), not the history's
        try:
            batch = [
                StepLog(1, "s", 1, "stdout", f"{i:08d} " + "y" * 90, 0.0)
                for i in range(chunk * 1000, (chunk + 1) * 1000)
            ]
            out = cap.filter(batch)
            del batch
            peak = max(peak, tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
        now = _stored(out, db)
        if chunk == 20:
            # at any moment (a crash) the history holds the head, a marker and the newest
            # lines, within the cap plus the trim slack
            assert now[500].startswith("… ") and now[-1].startswith("00020999 ")
            assert len(now) <= 1001 + int(500 * TRIM_SLACK)
    assert peak < 1024 * 1024, f"peak {peak / 1e6:.1f} MB"
    end = cap.filter([StepStatusChanged(1, "s", StepStatus.SUCCEEDED, 0.0, 1)])
    lines = _stored(end, db)
    assert lines[500] == omitted_line(39_000, 39_000 * 100)
    assert lines[-1].startswith("00039999 ") and len(lines) == 1001
    assert lines[501].startswith("00039500 ")


def test_each_attempt_is_capped_on_its_own() -> None:
    cap = LogCap(LogLimits(max_lines=4, max_bytes=0))
    events: list[Event] = [StepLog(1, "s", 1, "stdout", f"a{i}", 0.0) for i in range(10)]
    events.append(StepStatusChanged(1, "s", StepStatus.RUNNING, 0.0, 2))
    events += [StepLog(1, "s", 2, "stdout", f"b{i}", 0.0) for i in range(3)]
    stored = _stored(cap.filter(events))
    assert stored == ["a0", "a1", "… 6 lines (18 B) omitted …", "a8", "a9", "b0", "b1", "b2"]


def test_sizes() -> None:
    assert parse_size("32M") == 32 * 1024 * 1024
    assert parse_size("64k") == 65536 and parse_size("1000") == 1000 and parse_size("1GB") == 2**30
