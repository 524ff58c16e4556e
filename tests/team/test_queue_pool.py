"""The job queue's connection check (flowtui.worker.queue): no ping before each query on
a live connection, yet a connection the server closed is refused (the pool then replaces
it).  A real PostgreSQL server."""

from __future__ import annotations

import asyncio

import psycopg
import pytest

from flowtui.worker.queue import _check


def test_the_check_pings_only_a_connection_with_news(pg_url: str) -> None:
    async def scenario() -> str:
        async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as conn:
            await conn.execute("SELECT 'the last query'")
            await _check(conn)  # live and idle: taken as it is
            pid = conn.info.backend_pid
            async with await psycopg.AsyncConnection.connect(pg_url, autocommit=True) as admin:
                cur = await admin.execute(
                    "SELECT query FROM pg_stat_activity WHERE pid = %s", (pid,)
                )
                row = await cur.fetchone()
                assert row is not None
                last = str(row[0])
                # the server ends the session (a restart, an idle timeout, …)
                await admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
                while True:  # until it is gone (the server has said so on its socket)
                    cur = await admin.execute(
                        "SELECT count(*) FROM pg_stat_activity WHERE pid = %s", (pid,)
                    )
                    gone = await cur.fetchone()
                    if gone is not None and gone[0] == 0:
                        break
                    await asyncio.sleep(0.01)
            with pytest.raises(psycopg.OperationalError):
                await _check(conn)  # pinged: refused
            return last

    # no empty query (the ping) reached the server for the live connection
    assert asyncio.run(scenario()) == "SELECT 'the last query'"
