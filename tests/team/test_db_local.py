"""`flowtui db local`: the README's first team-mode command, as a real process."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import psycopg

from tests.pgserver import require_pg_bin
from tests.processes import Lines


def test_db_local_serves_a_history_and_stops_on_sigterm(tmp_path: Path) -> None:
    require_pg_bin()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("FLOWTUI_", "PG"))}
    proc = subprocess.Popen(
        [sys.executable, "-m", "flowtui", "db", "local", str(tmp_path / "pg")],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        lines = Lines(proc)
        url = lines.wait_for(r"export FLOWTUI_DB=(\S+)", timeout=60).group(1)
        assert re.fullmatch(r"postgresql://flowtui@127\.0\.0\.1:\d+/flowtui", url)
        history = subprocess.run(
            [sys.executable, "-m", "flowtui", "history", "--db", url],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
        )
        assert history.returncode == 0 and "no runs" in history.stdout, history.stderr
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        try:
            psycopg.connect(url, connect_timeout=3).close()
        except psycopg.OperationalError:
            pass
        else:
            raise AssertionError("the server still answers after SIGTERM")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
