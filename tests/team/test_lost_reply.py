"""A COMMIT that reaches PostgreSQL but whose reply never comes back: the runner retries
the batch, and its log lines must still be stored once.

The runner talks to the server through a real TCP proxy that, once armed, forwards the
COMMIT of a transaction that wrote log lines, swallows the server's reply and cuts the
connection — what a network failing at that moment does.
"""

from __future__ import annotations

import contextlib
import socket
import threading
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest

from tests.team.teamkit import Team, until


class LosingProxy:
    """Forwards connections to a PostgreSQL server; `arm()` makes it lose the reply to
    the COMMIT of the next transaction that sends `line`."""

    line = b"second line"

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.armed = threading.Event()
        self.lost = threading.Event()
        self.sockets: list[socket.socket] = []
        threading.Thread(target=self._accept, daemon=True).start()

    def arm(self) -> None:
        self.armed.set()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(self.target)
            self.sockets += [client, server]
            state = {"drop": False}
            threading.Thread(target=self._up, args=(client, server, state), daemon=True).start()
            threading.Thread(target=self._down, args=(server, client, state), daemon=True).start()

    def _up(self, client: socket.socket, server: socket.socket, state: dict[str, bool]) -> None:
        with contextlib.suppress(OSError):
            while data := client.recv(65536):
                if self.armed.is_set() and self.line in data:  # the batch with that line
                    self.armed.clear()
                    state["drop"] = True
                server.sendall(data)

    def _down(self, server: socket.socket, client: socket.socket, state: dict[str, bool]) -> None:
        with contextlib.suppress(OSError):
            while data := server.recv(65536):
                # the server's reply to that batch's COMMIT (its CommandComplete tag), even
                # when the client sends COMMIT as a prepared statement
                if state["drop"] and b"COMMIT\x00" in data:
                    self.lost.set()
                    break
                client.sendall(data)
        for sock in (client, server):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self.listener.close()
        for sock in self.sockets:
            with contextlib.suppress(OSError):
                sock.close()


@pytest.fixture
def proxy(pg_url: str) -> Iterator[LosingProxy]:
    parts = urlsplit(pg_url)
    losing = LosingProxy(parts.hostname or "127.0.0.1", parts.port or 5432)
    yield losing
    losing.close()


def test_a_lost_commit_reply_stores_each_line_once(team: Team, proxy: LosingProxy) -> None:
    gate = team.folder / "go"
    path = team.workflow(
        "lines",
        f"""
        name: lines
        steps:
          talk:
            run: |
              echo "first line"
              while [ ! -f {gate} ]; do sleep 0.05; done
              echo "second line"
        """,
    )
    parts = urlsplit(team.url)
    through = parts._replace(netloc=f"{parts.username}@127.0.0.1:{proxy.port}").geturl()
    runner, lines = team.start_as(through, "run", str(path))
    until(lambda: "first line" in team.cli("logs", "last"), what="the first line")
    proxy.arm()
    gate.touch()
    assert runner.wait(timeout=60) == 0, "".join(lines.seen)
    assert proxy.lost.is_set(), "no COMMIT reply was lost: the test proved nothing"
    logs = team.cli("logs", "last")
    assert logs.count("second line") == 1, logs
    assert "ignored step" not in logs, logs  # no status written twice either
