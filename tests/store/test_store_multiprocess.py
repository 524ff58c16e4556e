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
        print("ready", flush=True)
        sys.stdin.readline()  # all writers start together
        i = 0
        while i < lines:
            size = 1 if i % 200 == 0 else batch
            chunk = range(i, min(lines, i + size))
            logs = [StepLog(run_id, step, 1, "stdout", f"{step} {n}", 0.0) for n in chunk]
            await store.apply(logs)
            if i % 100 == 0:
                await store.take_commands([run_id])
            i += len(chunk)
            await asyncio.sleep(0.001)  # like the sink between batches: lets others in

asyncio.run(main(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), int(sys.argv[5])))
"""


def _child_env() -> dict[str, str]:
    root = str(Path(flowtui.__file__).resolve().parent.parent)
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    return env


async def test_three_processes_write_concurrently(store: RunStore, target: str | Path) -> None:
    run_id = await store.create_run(workflow="wf", steps=plan("p1", "p2", "me"))
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            str(target),
            str(run_id),
            name,
            str(LINES),
            str(BATCH),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env=_child_env(),
        )
        for name in ("p1", "p2")
    ]

    async def write_here() -> None:
        for i in range(0, LINES, BATCH):
            chunk = range(i, i + BATCH)
            await store.apply([StepLog(run_id, "me", 1, "stdout", f"me {n}", 0.0) for n in chunk])
            if i % 400 == 0:
                await store.add_command(run_id, "cancel")
            await asyncio.sleep(0.001)

    try:
        async with asyncio.timeout(60):
            for child in children:
                assert child.stdout is not None
                assert await child.stdout.readline() == b"ready\n"
            for child in children:  # everybody starts writing at the same moment
                assert child.stdin is not None
                child.stdin.write(b"go\n")
                await child.stdin.drain()
            await write_here()
            results = [await c.communicate() for c in children]
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    for child, (_, err) in zip(children, results, strict=True):
        assert child.returncode == 0, err.decode()
        assert b"locked" not in err

    for name in ("p1", "p2", "me"):
        lines = [lg.line for lg in await store.get_logs(run_id, name, limit=LINES + 10)]
        assert lines == [f"{name} {n}" for n in range(LINES)]  # none lost, in order
    row = await store.db.fetchone("SELECT COUNT(*) FROM logs WHERE run_id = ?", (run_id,))
    assert row is not None and row[0] == 3 * LINES


OPENER = """
import asyncio, sys
from flowtui.store import RunStore

async def main():
    sys.stdin.readline()
    async with await RunStore.open() as store:  # $FLOWTUI_DB's folder is created
        await store.create_run(workflow="wf", steps=[])

asyncio.run(main())
"""


async def test_processes_racing_to_create_a_fresh_database(tmp_path: Path) -> None:
    path = tmp_path / "fresh" / "flowtui.db"
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            OPENER,
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            env={**_child_env(), "FLOWTUI_DB": str(path)},
        )
        for _ in range(4)
    ]
    try:
        async with asyncio.timeout(60):
            results = [c.communicate(b"go\n") for c in children]
            outcomes = await asyncio.gather(*results)
    finally:
        for child in children:
            if child.returncode is None:
                child.kill()
                await child.wait()
    for child, (_, err) in zip(children, outcomes, strict=True):
        assert child.returncode == 0, err.decode()
    async with await RunStore.open(path) as store:
        assert await store.count_runs("wf") == 4
