"""Issue #17 item 2: what flowtui leaves on disk is private, and holds no secret in clear.

A run under `umask 000` whose step writes a secret to `$FLOWTUI_OUTPUT` (and runs a script
too long for argv, so flowtui writes it to a file): afterwards the history folder holds the
secret nowhere in clear, and the folders flowtui made can be entered by their owner only.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

from tests.cli.conftest import Cli

SECRET = "s3cr3t-Value-on-disk-42"


def test_run_files_are_private_and_hold_no_secret_in_clear(cli: Cli, tmp_path: Path) -> None:
    data = tmp_path / "data"
    db = data / "history.db"
    filler = "# " + "x" * 200 + "\n"
    (tmp_path / "leak.yaml").write_text(
        "name: leak\n"
        "secrets:\n"
        "  TOKEN: {env: MY_TOKEN}\n"
        "steps:\n"
        "  out:\n"
        "    run: |\n"
        '      echo "token=$TOKEN" >> "$FLOWTUI_OUTPUT"\n'
        '      echo "copy=$TOKEN" >> "$FLOWTUI_OUTPUT"\n'
        "  long:\n"
        "    requires: out\n"
        "    run: |\n" + "".join("      " + filler for _ in range(800)) + "      echo long done\n"
    )
    done = subprocess.run(
        [sys.executable, "-m", "flowtui", "run", "leak.yaml", "-q"],
        capture_output=True,
        text=True,
        # the configured location: flowtui creates its folder (a --db folder must exist)
        env={**cli.env, "MY_TOKEN": SECRET, "FLOWTUI_DB": str(db)},
        cwd=tmp_path,
        timeout=60,
        umask=0,
    )
    assert done.returncode == 0, done.stderr

    workspaces = data / "workspaces"
    run_ws = workspaces / "1"
    assert run_ws.is_dir()
    for folder in (data, workspaces, run_ws):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700, folder
    found_files = 0
    for root, dirs, files in os.walk(data):
        for name in dirs:
            path = Path(root) / name
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is open to others"
        for name in files:
            path = Path(root) / name
            found_files += 1
            if path.suffix in {".db", ".db-wal", ".db-shm"} or name.startswith("history.db"):
                continue  # the history masks it (tests/security/test_secrets.py)
            assert SECRET.encode() not in path.read_bytes(), f"{path} holds the secret in clear"
            assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, f"{path} is open to others"
    assert found_files > 0
