from __future__ import annotations

import asyncio
import os
import sys
from pathlib import Path

import flowtui
from flowtui.engine.events import StepLog
from flowtui.store import RunStore

from .store_helpers import plan

LINES = 2000
BATCH = 20

# A second runner process: writes its log lines in small transactions, some single-line,
# and takes commands in between, as a real runner would.
WRITER = """
import asyncio, sys
from flowtui.engine.events import StepLog
from flowtui.store import RunStore

async def main(path, run_id, step, lines, batch):
    async with await RunStore.open(path) as store:
        i = 0
        while i < lines:
            size = 1 if i % 200 == 0 else batch
            chunk = range(i, min(lines, i + size))
            await store.apply([StepLog(run_id, step, 1, "stdout", f"{step} {n}", 0.0) for n in chunk])
            if i % 100 == 0:
                await store.take_commands([run_id])
            i += len(chunk)

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
"""


def _child_env() -> dict[str, str]:
    root = str(Path(flowtui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


async def test_three_processes_write_concurrently(store: RunStore) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("p1", "p2", "me"))
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            str(store.path),
            str(run_id),
            name,
            str(LINES),
            str(BATCH),
            stderr=asyncio.subprocess.PIPE,
            env=_child_env(),
        )
        for name in ("p1", "p2")
    ]

    async def write_here() -> None:
        for i in range(0, LINES, BATCH):
            await store.apply(
                [StepLog(run_id, "me", 1, "stdout", f"me {n}", 0.0) for n in range(i, i + BATCH)]
            )
            await store.add_command(run_id, "cancel") if i % 400 == 0 else None

    async with asyncio.timeout(60):
        await write_here()
        results = [await c.communicate() for c in children]
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert b"locked" not in err

    for name in ("p1", "p2", "me"):
        lines = [lg.line for lg in await store.get_logs(run_id, name, limit=LINES + 10)]
        assert lines == [f"{name} {n}" for n in range(LINES)]  # none lost, in order
    row = await store.db.fetchone("SELECT COUNT(*) FROM logs WHERE run_id = ?", (run_id,))
    assert row is not None and row[0] == 3 * LINES
