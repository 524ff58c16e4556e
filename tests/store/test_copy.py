"""`flowtui db copy SRC DST`: a real history, made by real runs, copied SQLite → PostgreSQL →
SQLite with nothing lost or renumbered, on real files and a real PostgreSQL server."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from flowtui.engine.events import ApprovalDecided, StepLog
from flowtui.engine.owner import Owner
from flowtui.engine.runner import RunnerOptions
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.store import RunStore
from flowtui.store import copy as copy_module
from flowtui.store.copy import TABLES, CopyError, copy_history
from flowtui.store.db import StoreError
from flowtui.store.tokens import TokenStore
from flowtui.store.triggerstore import TriggerStore
from tests.harness import Harness

from .store_helpers import plan

REPO = Path(__file__).resolve().parents[2]
OPTIONS = RunnerOptions(parallel=4, kill_grace=1.0, poll_interval=0.05, heartbeat_interval=0.5)


def flowtui(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "NO_COLOR": "1", "TZ": "UTC"}
    env.pop("FLOWTUI_DB", None)
    return subprocess.run(
        [sys.executable, "-m", "flowtui", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=cwd,
        timeout=120,
    )


async def table_names(store: RunStore) -> set[str]:
    if store.dialect == "sqlite":
        rows = await store.db.fetchall(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
        )
        return {r["name"] for r in rows}
    rows = await store.db.fetchall(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        # the schema version, workers and batch ids are not history
        " AND table_name NOT IN ('flowtui_schema', 'flowtui_workers', 'flowtui_batches')"
    )
    return {r["table_name"] for r in rows}


async def columns_of(store: RunStore, table: str) -> list[str]:
    if store.dialect == "sqlite":
        return [r["name"] for r in await store.db.fetchall(f"PRAGMA table_info({table})")]
    rows = await store.db.fetchall(
        "SELECT column_name FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND table_name = ? ORDER BY ordinal_position",
        (table,),
    )
    return [r["column_name"] for r in rows]


async def snapshot(target: str | Path) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    """Every row of every table (`SELECT *`: named columns, not the copy's own lists)."""
    store = await RunStore.open(target)
    try:
        found: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
        for name in sorted(await table_names(store)):
            rows = await store.db.fetchall(f"SELECT * FROM {name}")
            found[name] = sorted(
                (tuple(sorted(zip(r.keys(), tuple(r), strict=True))) for r in rows), key=repr
            )
        return found
    finally:
        await store.close()


async def fill(tmp_path: Path, store: RunStore) -> list[int]:
    """Real activity: runs with logs, outputs, a failure, a retry, an approval, a rerun, a
    paused workflow, trigger outcomes, leases, deliveries, cursors and an adopter."""
    async with Harness.open(tmp_path, OPTIONS, store=store) as env:
        build = env.workflow(
            """
            name: build
            steps:
              Fetch:
                retries: 2
                retry_delay: 100ms
                run: |
                  n=$(( $(cat "$FLOWTUI_WORKSPACE/n" 2>/dev/null || echo 0) + 1 ))
                  echo $n > "$FLOWTUI_WORKSPACE/n"
                  echo "attempt $n"
                  if (( n < 2 )); then echo "connection reset" >&2; exit 1; fi
              compile:
                requires: [Fetch]
                run: |
                  for i in 1 2 3 4 5 6 7; do echo "compiling unit $i: naïve ✓"; done
                  echo "artifact=app-1.2.tar.gz" >> "$FLOWTUI_OUTPUT"
                  echo "Sha=abc123" >> "$FLOWTUI_OUTPUT"
                  echo "summary=built" >> "$FLOWTUI_OUTPUT"
              lint_a: {continue_on_failure: true, run: "echo 'E501 too long' >&2; exit 3"}
              lint_B: {requires: [compile], run: "echo clean"}
            """,
            "build.yaml",
        )
        flaky = env.workflow(
            """
            name: flaky
            steps:
              prepare: {run: "echo ready; echo summary=ok >> $FLOWTUI_OUTPUT"}
              integration:
                requires: [prepare]
                run: |
                  echo "test_signup ... ok"
                  test -f "$MARK" || { echo "test_checkout ... FAILED" >&2; exit 1; }
                  echo "test_checkout ... ok"
            """,
            "flaky.yaml",
        )
        gate = env.workflow(
            """
            name: gate
            steps:
              plan: {run: "echo '+ 3 to add'"}
              approve: {type: approval, requires: [plan]}
              apply: {requires: [approve], run: echo applied}
            """,
            "gate.yaml",
        )
        ids = []
        for _ in range(2):
            run_id, status = await env.run(build)
            assert status == RunStatus.SUCCEEDED
            ids.append(run_id)
        os.environ["MARK"] = str(tmp_path / "fixed")
        try:
            failed, status = await env.run(flaky)
            assert status == RunStatus.FAILED
            (tmp_path / "fixed").touch()
            rerun = await env.runner.rerun(failed, triggered_by="bob")
            assert await rerun.wait() == RunStatus.SUCCEEDED
        finally:
            del os.environ["MARK"]
        ids += [failed, rerun.run_id]
        handle = await env.runner.submit(gate, triggered_by="carol")
        await env.wait_step(handle.run_id, "approve", StepStatus.HELD)
        await store.add_command(handle.run_id, "approve", step="approve", by="alice", comment="ok")
        async with asyncio.timeout(20):
            assert await handle.wait() == RunStatus.SUCCEEDED
        await env.sink.flush()
        ids.append(handle.run_id)
    await store.apply([ApprovalDecided(ids[0], "compile", True, "dave", time.time(), "late")])
    await store.set_paused("gate", True)
    triggers = TriggerStore(store.db)
    assert await triggers.claim_fire("build", "cron:0 * * * *", "2024-05-01T10:00")
    assert await triggers.claim_fire("build", "cron:0 * * * *", "2024-05-01T11:00")
    await triggers.record("build", "cron", "fired", "10:00", run_id=ids[0])
    await triggers.record("gate", "webhook", "ignored", "paused")
    await triggers.record("gate", "webhook", "rejected", "bad signature")
    assert await triggers.claim_delivery("d-1", "gate")
    assert await triggers.claim_delivery("D-2", "gate")
    await triggers.set_state("cron:build", "2024-05-01T11:00")
    await triggers.raise_int_state("chain:gate", 17)
    await store.register_adopter(Owner.current())
    await TokenStore(store.db).create("ci-bot", "run", "ann")  # the REST API's tokens
    # team mode's workspace hand-over: bytes, NULs included
    await store.add_workspace_delta(ids[0], "compile", 1, b"\x1f\x8b\x00\xffz")
    return ids


async def test_a_real_history_goes_to_postgresql_and_back_unchanged(
    tmp_path: Path, pg_url: str
) -> None:
    src, back = tmp_path / "src" / "flowtui.db", tmp_path / "back" / "flowtui.db"
    src.parent.mkdir(), back.parent.mkdir()
    store = await RunStore.open(src)
    try:
        run_ids = await fill(tmp_path, store)
    finally:
        await store.close()
    original = await snapshot(src)
    assert set(original) == {t.name for t in TABLES}
    assert all(original[t] for t in original), [t for t in original if not original[t]]

    # SQLite -> PostgreSQL in pages of 3 rows: every table needs several (composite keys too)
    seen: list[tuple[str, int]] = []
    counts = await copy_history(src, pg_url, on_table=lambda t, n: seen.append((t, n)), batch=3)
    assert seen == list(counts.items())
    assert list(counts) == [t.name for t in TABLES]
    assert counts == {t: len(rows) for t, rows in original.items()}
    assert await snapshot(pg_url) == original

    # PostgreSQL -> a new SQLite file, through the command line (default batch)
    done = flowtui("db", "copy", pg_url, f"sqlite://{back}", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""
    lines = done.stdout.splitlines()
    assert lines[0] == f"copying {pg_url} to {back}"
    assert [line.split() for line in lines[1:-1]] == [[t, str(n)] for t, n in counts.items()]
    assert lines[-1].split()[:2] == ["total", str(sum(counts.values()))]
    assert await snapshot(back) == original

    # what people read is the same on every copy
    for args in [("history",), *(("show", str(r), "--lines", "20") for r in run_ids)]:
        outputs = [flowtui(*args, "--db", str(db), cwd=tmp_path) for db in (src, pg_url, back)]
        assert outputs[0].returncode == 0, outputs[0].stderr
        assert outputs[0].stdout.strip()
        assert [o.stdout for o in outputs[1:]] == [outputs[0].stdout] * 2, args
    logs = [flowtui("logs", str(run_ids[0]), "--db", str(db), cwd=tmp_path) for db in (src, back)]
    assert "compiling unit 7: naïve ✓" in logs[0].stdout
    assert logs[0].stdout == logs[1].stdout


@pytest.mark.parametrize("dst_kind", ["postgresql", "sqlite"])
async def test_new_rows_in_the_copy_get_fresh_ids(
    dst_kind: str, tmp_path: Path, pg_url: str
) -> None:
    src = tmp_path / "src.db"
    store = await RunStore.open(src)
    try:
        for _ in range(3):
            run_id = await store.create_run(workflow="wf", steps=plan("a", "b"))
            await store.apply(
                [StepLog(run_id, "a", 1, "stdout", f"line {i}", 1.0) for i in range(4)]
            )
            await store.add_command(run_id, "cancel", by="x")
            await store.apply([ApprovalDecided(run_id, "b", False, "y", 2.0)])
            await TriggerStore(store.db).record("wf", "cron", "fired", run_id=run_id)
            await store.add_workspace_delta(run_id, "a", 1, b"delta")
    finally:
        await store.close()
    dst: str | Path = pg_url if dst_kind == "postgresql" else tmp_path / "dst.db"
    await copy_history(src, dst)

    def highest(rows: list[Any]) -> int:
        return int(rows[0]["n"])

    copy = await RunStore.open(dst)
    try:
        top = {
            t.name: highest(
                await copy.db.fetchall(f"SELECT COALESCE(MAX(id), 0) AS n FROM {t.name}")
            )
            for t in TABLES
            if t.identity
        }
        assert top["runs"] == 3 and top["logs"] == 12
        run_id = await copy.create_run(workflow="wf", steps=plan("a"))
        await copy.apply([StepLog(run_id, "a", 1, "stdout", "new", 3.0)])
        await copy.apply([ApprovalDecided(run_id, "a", True, "z", 4.0)])
        command = await copy.add_command(run_id, "cancel")
        trigger = await TriggerStore(copy.db).record("wf", "cron", "fired", run_id=run_id)
        delta = await copy.add_workspace_delta(run_id, "a", 1, b"new")
        (log,) = await copy.get_logs(run_id)
        events = await copy.get_events(run_id)
        approval = await copy.db.fetchone("SELECT id FROM approvals WHERE run_id = ?", (run_id,))
        assert approval is not None
        assert run_id > top["runs"]
        assert log.id > top["logs"]
        assert approval["id"] > top["approvals"]
        assert command > top["commands"]
        assert min(e.id for e in events) > top["events"]
        assert trigger.id > top["trigger_events"]
        assert delta > top["workspace_deltas"] == 3
    finally:
        await copy.close()


async def test_refusals_are_one_line_and_write_nothing(
    tmp_path: Path, pg_url_factory: Callable[[], str]
) -> None:
    src, used_pg, empty_pg = tmp_path / "src.db", pg_url_factory(), pg_url_factory()
    store = await RunStore.open(src)
    try:
        await store.create_run(workflow="wf", steps=plan("a"))
    finally:
        await store.close()
    used = await RunStore.open(used_pg)
    try:
        await used.create_run(workflow="theirs", steps=plan("x", "y"))
    finally:
        await used.close()
    before = await snapshot(used_pg)

    # a used destination: refused inside its write transaction, nothing added
    with pytest.raises(CopyError, match="is not empty"):
        await copy_history(src, used_pg)
    assert await snapshot(used_pg) == before
    refused = flowtui("db", "copy", str(src), used_pg, cwd=tmp_path)
    assert refused.returncode == 1
    assert refused.stderr.startswith(f"flowtui: error: {used_pg} is not empty (it has rows in")
    assert "runs" in refused.stderr and "nothing was copied" in refused.stderr
    assert len(refused.stderr.splitlines()) == 1 and "Traceback" not in refused.stderr
    assert await snapshot(used_pg) == before

    # only a paused workflow in it (no runs) is a used history too
    paused = tmp_path / "paused.db"
    other = await RunStore.open(paused)
    try:
        await other.set_paused("wf", True)
    finally:
        await other.close()
    with pytest.raises(CopyError, match=r"has rows in workflows\)"):
        await copy_history(src, paused)

    # a table or a column the copy does not know would be lost: refused
    for change, message in [
        ("CREATE TABLE notes (run_id INTEGER, text TEXT)", r"does not know \(notes\)"),
        ("ALTER TABLE runs ADD COLUMN colour TEXT", r"columns of runs .*unknown: colour"),
    ]:
        odd = tmp_path / f"odd{len(message)}.db"
        await (await RunStore.open(odd)).close()  # a real history, then the change
        with sqlite3.connect(odd) as conn:
            conn.execute(change)
        with pytest.raises(CopyError, match=message):
            await copy_history(odd, tmp_path / "never.db")
        assert not (tmp_path / "never.db").exists()

    # the same history, however spelt
    for dst in (str(src), f"sqlite://{src}", str(tmp_path / "." / "src.db")):
        with pytest.raises(CopyError, match="the same history"):
            await copy_history(str(src), dst)
    with pytest.raises(CopyError, match="the same history"):
        await copy_history(empty_pg, empty_pg.replace("postgresql://", "postgres://"))
    same = flowtui("db", "copy", str(src), str(src), cwd=tmp_path)
    assert same.returncode == 1
    assert same.stderr == f"flowtui: error: source and destination are the same history: {src}\n"

    # unsupported URLs, on either side; a SRC file that does not exist
    for args in [("mysql://u@h/db", str(tmp_path / "d.db")), (str(src), "redis://h")]:
        bad = flowtui("db", "copy", *args, cwd=tmp_path)
        assert bad.returncode == 1
        assert bad.stderr.startswith("flowtui: error: unsupported history URL"), bad.stderr
        assert len(bad.stderr.splitlines()) == 1
    missing = flowtui("db", "copy", str(tmp_path / "nope.db"), empty_pg, cwd=tmp_path)
    assert missing.returncode == 1
    assert missing.stderr == f"flowtui: error: {tmp_path / 'nope.db'}: no such history file\n"
    assert not (tmp_path / "nope.db").exists() and not (tmp_path / "d.db").exists()
    with pytest.raises(StoreError, match="unsupported history URL"):
        await copy_history(src, "mysql://u@h/db")
    assert not any((await snapshot(empty_pg)).values())


async def test_nul_characters_become_u_fffd_on_postgresql(tmp_path: Path, pg_url: str) -> None:
    src = tmp_path / "src.db"
    store = await RunStore.open(src)
    try:
        run_id = await store.create_run(workflow="wf", steps=plan("a"))
        await store.apply([StepLog(run_id, "a", 1, "stdout", "bin\x00ary", 1.0)])
    finally:
        await store.close()
    notes: list[str] = []
    await copy_history(src, pg_url, on_note=notes.append)
    assert notes == [
        "1 rows held NUL characters, which PostgreSQL text cannot: they were written as U+FFFD"
    ]
    copy = await RunStore.open(pg_url)
    try:
        assert [log.line for log in await copy.get_logs(run_id)] == ["bin\ufffdary"]
    finally:
        await copy.close()


async def test_the_copys_columns_are_the_real_schemas(tmp_path: Path, pg_url: str) -> None:
    for target in (tmp_path / "fresh.db", pg_url):
        store = await RunStore.open(target)
        try:
            assert await table_names(store) == {t.name for t in TABLES}, store.dialect
            for table in TABLES:
                assert list(table.columns) == await columns_of(store, table.name), table.name
                assert set(table.key) <= set(table.columns)
                assert table.identity == ("id" in table.columns)
        finally:
            await store.close()
    # the SQLite file records nothing else (sqlite_sequence is SQLite's own)
    with sqlite3.connect(tmp_path / "fresh.db") as conn:
        kinds = {r[0] for r in conn.execute("SELECT type FROM sqlite_master")}
    assert kinds <= {"table", "index"}


@pytest.mark.parametrize("src_kind", ["sqlite", "postgresql"])
async def test_a_history_in_use_is_copied_as_it_was_at_one_instant(
    src_kind: str, tmp_path: Path, pg_url_factory: Callable[[], str]
) -> None:
    src: str | Path = tmp_path / "src.db" if src_kind == "sqlite" else pg_url_factory()
    dst = pg_url_factory() if src_kind == "sqlite" else tmp_path / "dst.db"
    writer = await RunStore.open(src)
    stop = asyncio.Event()

    async def keep_writing() -> int:
        made = 0
        while not stop.is_set():
            run_id = await writer.create_run(workflow="busy", steps=plan("a", "b"))
            await writer.apply([StepLog(run_id, "a", 1, "stdout", "x", 1.0) for _ in range(3)])
            made += 1
            await asyncio.sleep(0)
        return made

    try:
        for _ in range(5):
            await writer.create_run(workflow="busy", steps=plan("a", "b"))
        task = asyncio.create_task(keep_writing())
        await asyncio.sleep(0.1)
        counts = await copy_history(src, dst, batch=2)  # many pages: writes land in between
        stop.set()
        made = await task
        assert made > 0
    finally:
        await writer.close()
    copied = await snapshot(dst)
    runs = {dict(r)["id"] for r in copied["runs"]}
    assert counts["runs"] == len(runs) >= 5
    # every copied child row belongs to a copied run, every copied run has all its steps
    for table in ("steps", "logs", "events"):
        assert {dict(r)["run_id"] for r in copied[table]} <= runs
    assert counts["steps"] == 2 * len(runs)


async def test_pages_shrink_when_rows_are_large(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = await RunStore.open(tmp_path / "src.db")
    try:
        run_id = await store.create_run(workflow="wf", steps=plan("a"))
        lines = ["short"] * 10 + ["x" * 10_000] * 20 + ["short"] * 10
        await store.apply([StepLog(run_id, "a", 1, "stdout", line, 1.0) for line in lines])
        monkeypatch.setattr(copy_module, "PAGE_BYTES", 40_000)
        logs = next(t for t in TABLES if t.name == "logs")
        pages = [len(p) async for p in copy_module._pages(store.db, logs, batch=8)]
        assert sum(pages) == len(lines)
        assert pages[:2] == [8, 8]  # small rows: whole pages
        assert max(pages[2:]) <= 3  # after the first 10 KB row: about 40 KB a page
    finally:
        await store.close()


async def test_the_destinations_triggers_do_not_rewrite_the_copy(
    tmp_path: Path, pg_url: str
) -> None:
    """A trigger of DST (as one recording a command's author as the session's role) is off
    while the rows go in, and on again, as it was, once they are in."""
    src = tmp_path / "src.db"
    store = await RunStore.open(src)
    try:
        run_id = await store.create_run(workflow="wf", steps=plan("a"))
        await store.apply([StepLog(run_id, "a", 1, "stdout", "as printed", 1.0)])
        await store.add_command(run_id, "cancel", by="alice")
    finally:
        await store.close()
    dst = await RunStore.open(pg_url)
    try:
        async with dst.db.transaction() as conn:
            await conn.execute(
                """CREATE FUNCTION shout() RETURNS trigger LANGUAGE plpgsql AS $$
                   BEGIN NEW.line := upper(NEW.line); RETURN NEW; END $$"""
            )
            await conn.execute(
                "CREATE TRIGGER logs_shout BEFORE INSERT ON logs"
                " FOR EACH ROW EXECUTE FUNCTION shout()"
            )
            await conn.execute(
                'CREATE TRIGGER "logs shout always" BEFORE INSERT ON logs'
                " FOR EACH ROW EXECUTE FUNCTION shout()"
            )
            await conn.execute('ALTER TABLE logs ENABLE ALWAYS TRIGGER "logs shout always"')
            await conn.execute(
                "CREATE TRIGGER logs_off BEFORE INSERT ON logs"
                " FOR EACH ROW EXECUTE FUNCTION shout()"
            )
            await conn.execute("ALTER TABLE logs DISABLE TRIGGER logs_off")
        states = "SELECT tgname, tgenabled FROM pg_trigger WHERE NOT tgisinternal ORDER BY tgname"
        before = [tuple(r) for r in await dst.db.fetchall(states)]
        assert len([s for s in before if s[0].startswith("logs")]) == 3
    finally:
        await dst.close()

    await copy_history(src, pg_url)
    copy = await RunStore.open(pg_url)
    try:
        assert [log.line for log in await copy.get_logs(run_id)] == ["as printed"]
        assert [tuple(r) for r in await copy.db.fetchall(states)] == before
        await copy.apply([StepLog(run_id, "a", 1, "stdout", "new", 2.0)])  # they work again
        assert [log.line for log in await copy.get_logs(run_id)][-1] == "NEW"
    finally:
        await copy.close()
    snap = await snapshot(pg_url)
    assert [dict(r)["by_user"] for r in snap["commands"]] == ["alice"]
