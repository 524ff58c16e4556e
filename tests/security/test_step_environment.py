"""A step never inherits flowtui's own settings: where the history is, how to log in to it,
whether `--as` is trusted.  With them a step could forge events or decide its own gate."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.engine.states import RunStatus
from flowtui.engine.stepenv import NOT_INHERITED
from tests.harness import Harness

PRIVATE = {
    "FLOWTUI_DB": "postgresql://runner:pw@db.internal/flowtui",
    "PGPASSWORD": "hunter2",
    "PGSERVICE": "flowtui",
    "PGHOST": "db.internal",
    "FLOWTUI_TRUST_AS": "1",
    "FLOWTUI_WEBHOOK_SECRET": "whsec",
}


@pytest.mark.parametrize("shell", ["bash", "python"])
async def test_flowtui_settings_do_not_reach_a_step(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, shell: str
) -> None:
    for key, value in PRIVATE.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("MY_TOOL_HOME", "/opt/tool")  # an ordinary variable still arrives
    run = (
        "env"
        if shell == "bash"
        else "import os\\nfor k, v in sorted(os.environ.items()): print(f'{k}={v}')"
    )
    async with Harness.open(tmp_path) as env:
        workflow = env.workflow(
            f"""
            name: leak
            secrets:
              DB_PASSWORD: {{env: PGPASSWORD}}
            steps:
              show: {{shell: {shell}, run: "{run}"}}
            """
        )
        run_id, status = await env.run(workflow)
        assert status == RunStatus.SUCCEEDED
        lines = [r.line for r in await env.store.get_logs(run_id, "show") if r.stream == "stdout"]
    names = {line.split("=", 1)[0] for line in lines if "=" in line}
    assert names.isdisjoint(PRIVATE), sorted(names & set(PRIVATE))
    assert "MY_TOOL_HOME" in names
    # declared explicitly, a value from those variables does reach it (masked in the log)
    assert "DB_PASSWORD=***" in lines
    assert set(PRIVATE) <= NOT_INHERITED
