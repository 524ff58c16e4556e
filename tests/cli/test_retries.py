"""`retries:` as a mapping in real runs: only the listed exit codes are retried, with the
delays the mapping asks for."""

from __future__ import annotations

from pathlib import Path

from tests.cli.conftest import Cli


def test_only_listed_exit_codes_are_retried_with_backoff_and_a_cap(
    cli: Cli, tmp_path: Path
) -> None:
    path = tmp_path / "r.yaml"
    path.write_text(
        "name: r\nsteps:\n"
        "  flaky:\n"
        "    run: |\n"
        '      n=$(cat "$FLOWTUI_WORKSPACE/n" 2>/dev/null || echo 0)\n'
        '      echo $((n + 1)) > "$FLOWTUI_WORKSPACE/n"\n'
        "      [ $n -ge 3 ] || exit 75\n"
        "    retries: {limit: 5, delay: 100ms, backoff: 3, max_delay: 500ms, "
        "on_exit_codes: [75]}\n"
        "  hard:\n"
        "    run: exit 3\n"
        "    retries: {limit: 3, on_exit_codes: [75]}\n"
        "  plain:\n"
        "    run: exit 4\n"
        "    retries: 1\n"
        "    retry_delay: 10ms\n"
    )
    done = cli("run", str(path), "-q")
    assert done.returncode == 1
    rows = cli.query("SELECT name, status, attempt, exit_code FROM steps WHERE run_id=1")
    assert sorted(rows) == [
        ("flaky", "succeeded", 4, 0),
        ("hard", "failed", 1, 3),
        ("plain", "failed", 2, 4),
    ]
    logs = cli("logs", "1").stdout
    delays = [line.rsplit(" ", 1)[-1] for line in logs.splitlines() if "retrying in" in line]
    assert delays.count("0.1s") == 1 and delays.count("0.3s") == 1 and "0.5s" in delays
    assert "attempt 1 failed with exit 3: not retried (on_exit_codes: 75)" in logs
