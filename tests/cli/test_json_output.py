"""`--json` of run, history, show, list, triggers and inbox, from real processes, checked
against the shapes docs/json.md documents: every key of the doc's examples is in the
output and the output has no key the doc does not name."""

from __future__ import annotations

import asyncio
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path
from typing import Any

from flowtui.glyphs import GLYPHS
from flowtui.store import RunStore
from flowtui.store.triggerstore import TriggerStore
from tests.cli.conftest import Cli
from tests.cli.test_approval_inputs import SHIP

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"


def doc_examples() -> dict[str, str]:
    """`flowtui X --json` section title → the text of its first code block."""
    found: dict[str, str] = {}
    for match in re.finditer(r"### `flowtui (\w+) --json[^`]*`\n(.*?)```json\w*\n(.*?)```",
                             DOC.read_text(), re.S):  # fmt: skip
        found[match.group(1)] = match.group(3)
    return found


def keys(value: dict[str, Any]) -> set[str]:
    return {k for k in value if k != "..."}  # "...": the doc's "and so on"


def same_keys(doc: dict[str, Any], real: dict[str, Any]) -> None:
    assert keys(doc) == set(real) or ("..." in doc and keys(doc) <= set(real)), (
        f"documented {sorted(keys(doc))}, printed {sorted(real)}"
    )


def test_every_command_is_documented() -> None:
    assert set(doc_examples()) == {
        "run",
        "history",
        "show",
        "list",
        "triggers",
        "inbox",
        "envs",
    }


def test_run_history_show_list_inbox_match_the_doc(cli: Cli, tmp_path: Path) -> None:
    docs = doc_examples()
    (tmp_path / "ship.yaml").write_text(SHIP)
    run = cli.start("run", "ship.yaml", "--json")
    cli.wait_for(lambda: cli.step_status(1, "approve") == "held")

    inbox = json.loads(cli("inbox", "--json").stdout)
    (doc_inbox,) = json.loads(docs["inbox"])
    same_keys(doc_inbox, inbox[0])
    same_keys(doc_inbox["inputs"][0], inbox[0]["inputs"][0])
    assert inbox[0]["inputs"][0]["name"] == "version" and inbox[0]["may_approve"] is True

    assert cli("approve", "1", "--input", "version=1.4.2").returncode == 0
    out, err = run.communicate(timeout=60)
    assert run.returncode == 0, err
    lines = [json.loads(line) for line in out.splitlines()]  # nothing but JSON on stdout
    documented = {e["event"]: e for e in map(json.loads, docs["run"].splitlines())}
    for line in lines:
        same_keys(documented[line["event"]], line)
    assert {line["event"] for line in lines} == set(documented)
    assert lines[-1]["event"] == "summary" and lines[-1]["run"]["status"] == "succeeded"
    steps = {e["step"]: e["status"] for e in lines if e["event"] == "step"}
    assert set(steps.values()) <= set(GLYPHS)  # the shared status words

    show = json.loads(cli("show", "1", "--json").stdout)
    assert show == lines[-1]["run"] | {"duration": show["duration"]}
    doc_show = json.loads(docs["show"])
    same_keys(doc_show, show)
    approve = next(s for s in show["steps"] if s["name"] == "approve")
    same_keys(doc_show["steps"][0], approve)
    same_keys(doc_show["steps"][0]["approvals"][0], approve["approvals"][0])
    assert approve["outputs"]["version"] == "1.4.2"
    assert approve["approvals"][0]["inputs"]["version"] == "1.4.2"

    history = json.loads(cli("history", "--json").stdout)
    same_keys(json.loads(docs["history"])[0], history[0])
    assert history[0]["id"] == 1 and history[0]["trigger"] == "manual"

    listing = json.loads(cli("list", str(tmp_path), "--json").stdout)
    doc_list = json.loads(docs["list"])[0]
    same_keys(doc_list, listing[0])
    same_keys(json.loads(docs["history"])[0], listing[0]["last_run"])
    assert listing[0]["name"] == "ship" and listing[0]["last_run"]["id"] == 1


def test_triggers_match_the_doc(cli: Cli) -> None:
    async def record() -> None:
        store = await RunStore.open(cli.db)
        try:
            await TriggerStore(store.db).record("nightly", "cron", "fired", "0 2 * * *")
        finally:
            await store.close()

    asyncio.run(record())
    events = json.loads(cli("triggers", "--json").stdout)
    same_keys(json.loads(doc_examples()["triggers"])[0], events[0])
    assert events[0]["outcome"] == "fired"


def test_a_pipe_to_a_one_line_script(cli: Cli, tmp_path: Path) -> None:
    """The README's example: the status of the last run, read by a script."""
    (tmp_path / "quick.yaml").write_text("name: quick\nsteps:\n  a: {run: 'true'}\n")
    assert cli("run", "quick.yaml", "--json", "-q").returncode == 0
    python = shlex.quote(sys.executable)
    piped = subprocess.run(
        f"{python} -m flowtui history --json | {python} -c "
        """'import json,sys; print(json.load(sys.stdin)[0]["status"])'""",
        shell=True,
        capture_output=True,
        text=True,
        env=cli.env,
        cwd=cli.cwd,
        timeout=60,
    )
    assert piped.stdout == "succeeded\n", piped.stderr
