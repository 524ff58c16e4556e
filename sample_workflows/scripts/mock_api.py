#!/usr/bin/env python3
"""A stand-in for the deployed service and a chat webhook, for the demo workflows.

GET /health -> 200 {"status": "ok"}; POST /notify records the posted text; POST /shutdown
answers with the texts received and stops the server.  It also stops after IDLE_SECONDS
without requests, so a failed run never leaves it behind.  Listens on 127.0.0.1:$API_PORT, or
when that is unset on a free port the system picks; the port is written to $FLOWTUI_OUTPUT as
the step's output `port`, which the steps after it read as $STEPS_API_PORT.

With `--background` it returns once it listens and serves from a detached process (its
output goes to mock_api.log in $FLOWTUI_WORKSPACE): the step that starts it ends at once
and holds none of the runner's parallel slots, so the workflow runs with `--parallel 1`.
"""

from __future__ import annotations

import json
import os
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

IDLE_SECONDS = 20.0
MAX_BODY = 64 * 1024


class Handler(BaseHTTPRequestHandler):
    server: ApiServer

    def do_GET(self) -> None:
        self.server.touch()
        if self.path == "/health":
            self.reply(200, {"status": "ok"})
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def do_POST(self) -> None:
        self.server.touch()
        length = min(int(self.headers.get("Content-Length") or 0), MAX_BODY)
        body = self.rfile.read(length)
        if self.path == "/notify":
            try:
                text = json.loads(body).get("text", "")
            except (ValueError, AttributeError):
                self.reply(400, {"error": 'expected JSON {"text": ...}'})
                return
            print(f"notification: {text}", flush=True)
            self.server.notifications.append(str(text))
            self.reply(200, {"ok": True})
        elif self.path == "/shutdown":
            self.reply(200, {"status": "stopping", "notifications": self.server.notifications})
            print("shutdown requested", flush=True)
            threading.Thread(target=self.server.shutdown, daemon=True).start()
        else:
            self.reply(404, {"error": f"no route {self.path}"})

    def reply(self, status: int, payload: object) -> None:
        data = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        print(f"{self.command} {self.path} -> {args[1] if len(args) > 1 else '?'}", flush=True)


class ApiServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, port: int) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.last_request = time.monotonic()
        self.notifications: list[str] = []

    def touch(self) -> None:
        self.last_request = time.monotonic()


def watch_idle(server: ApiServer) -> None:
    while time.monotonic() - server.last_request < IDLE_SECONDS:
        time.sleep(0.5)
    print(f"no requests for {IDLE_SECONDS:.0f} s, stopping", flush=True)
    server.shutdown()


def detach(log_path: str) -> bool:
    """Fork a server process in its own session; True in that process, False in the caller
    (which then leaves: the server is listening already, the socket was bound before)."""
    if os.fork() > 0:
        return False
    os.setsid()  # out of the step's process group: the step's end does not stop it
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    null = os.open(os.devnull, os.O_RDONLY)
    os.dup2(null, 0)
    os.dup2(log, 1)  # the step's pipes are let go, so the step ends now
    os.dup2(log, 2)
    os.close(log)
    os.close(null)
    return True


def main() -> int:
    port = int(os.environ.get("API_PORT") or 0)  # 0: any free one
    try:
        server = ApiServer(port)
    except OSError as exc:
        print(f"cannot listen on 127.0.0.1:{port}: {exc.strerror}", file=sys.stderr)
        return 1
    port = server.server_address[1]
    if output := os.environ.get("FLOWTUI_OUTPUT"):  # before the step ends: it is read then
        with open(output, "a", encoding="utf-8") as outputs:
            outputs.write(f"port={port}\n")
    print(f"mock API listening on http://127.0.0.1:{port}", flush=True)
    if "--background" in sys.argv[1:]:
        log_path = os.path.join(os.environ.get("FLOWTUI_WORKSPACE", "."), "mock_api.log")
        print(f"serving in the background; its log: {log_path}", flush=True)
        if not detach(log_path):
            return 0
    threading.Thread(target=watch_idle, args=(server,), daemon=True).start()
    with server:
        server.serve_forever(poll_interval=0.1)
    print("mock API stopped", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
