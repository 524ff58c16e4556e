"""Issue #17 item 4: over the log cap, a crash keeps the tail printed before it.

A step prints 3,000 lines with `--max-log-lines 1000`, then waits; its runner is SIGKILLed
a second later.  The history holds the head (500 lines), the omitted-lines marker and the
newest 500 lines — not only the head, as when the tail waited in memory for the step's end.
"""

from __future__ import annotations

import asyncio
import signal
import sqlite3
from pathlib import Path

from .conftest import flowtui_argv, spawn, wait_until

FLUSHED_AFTER = 1.0  # docs/reliability.md: lines printed this long before a crash are kept
LINES = 3000
WORKFLOW = """\
name: flood
params:
  mark: {required: true}
steps:
  talk:
    shell: python
    run: |
      import os, pathlib, time
      for i in range(LINES):
          print(f"line {i}", flush=True)
      pathlib.Path(os.environ["PARAM_MARK"]).touch()
      time.sleep(600)
""".replace("LINES", str(LINES))


async def test_the_tail_over_the_cap_survives_a_sigkill(
    tmp_path: Path, db_path: Path, reaper: list[int]
) -> None:
    flow = tmp_path / "flood.yaml"
    flow.write_text(WORKFLOW)
    mark = tmp_path / "mark"
    argv = flowtui_argv(
        "run",
        str(flow),
        "-p",
        f"mark={mark}",
        "-q",
        "--max-log-lines",
        "1000",
        "--db",
        str(db_path),
    )
    runner = spawn(argv, reaper)
    await wait_until(mark.exists, timeout=30, what="the step to print its lines")
    await asyncio.sleep(FLUSHED_AFTER)  # the documented bound, not a guess
    runner.send_signal(signal.SIGKILL)
    runner.wait(timeout=10)

    with sqlite3.connect(db_path) as conn:
        lines = [
            str(r[0]) for r in conn.execute("SELECT line FROM logs WHERE step = 'talk' ORDER BY id")
        ]
    assert lines[:500] == [f"line {i}" for i in range(500)]
    assert lines[500].startswith("… ") and lines[500].endswith(" omitted …"), lines[500]
    assert lines[-500:] == [f"line {i}" for i in range(LINES - 500, LINES)]
    omitted = int(lines[500].split()[1].replace(",", ""))
    assert 500 + 1 + omitted + (len(lines) - 501) == LINES + 1  # nothing twice, no gap
