"""`flowtui web` for real: a real server process, Debian's headless Chromium driven by
Playwright (never Playwright's own browser), the terminal's text read from xterm.js's buffer.

textual.js keeps its xterm.js `Terminal` to itself; an init script catches it as it is
assigned (`this.terminal = new Terminal(...)`) so the test reads the screen's lines through
xterm.js's public buffer API, as a screen reader would."""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import aiohttp
import pytest

from flowtui.cli.links import run_url
from flowtui.cli.main import main

if TYPE_CHECKING:
    from playwright.sync_api import Page, Route

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
HELLO = """
name: hello
triggers: [manual]
steps:
  greet: {run: echo hello}
  done: {requires: [greet], run: echo done}
"""
CATCH_TERMINAL = """
Object.defineProperty(Object.prototype, "terminal", {configurable: true, set(value) {
  window.flowtuiTerminal = value;
  Object.defineProperty(this, "terminal", {value, writable: true, configurable: true});
}});
"""
SCREEN = """() => {
  const term = window.flowtuiTerminal;
  if (!term) return "";
  const lines = [];
  for (let y = 0; y < term.rows; y++) {
    const line = term.buffer.active.getLine(y);
    lines.push(line ? line.translateToString(true) : "");
  }
  return lines.join("\\n");
}"""


class WebServer:
    """`python -m flowtui web` on a free port; `url` is the one it printed to open."""

    def __init__(self, tmp_path: Path, *args: str) -> None:
        self.tmp = tmp_path
        folder = tmp_path / "flows"
        folder.mkdir(exist_ok=True)
        (folder / "hello.yaml").write_text(textwrap.dedent(HELLO))
        env = {**os.environ, "FLOWTUI_DB": str(tmp_path / "history.db"), "NO_COLOR": "1"}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "flowtui", "web", str(folder), "--port", "0", *args],
            stdout=subprocess.PIPE,
            stderr=(tmp_path / "web.err").open("wb"),
            env=env,
            cwd=tmp_path,
        )
        self.printed = self._read_until("open http")
        self.url = self.printed.split("\nopen ", 1)[1].split()[0]
        self.port = int(self.printed.split(" on ", 1)[1].split(":")[1].split()[0])

    def _read_until(self, marker: str, timeout: float = 20) -> str:
        assert self.proc.stdout is not None
        text = ""
        deadline = time.monotonic() + timeout
        while marker not in text:
            ready, _, _ = select.select([self.proc.stdout], [], [], deadline - time.monotonic())
            chunk = os.read(self.proc.stdout.fileno(), 4096) if ready else b""
            if not chunk:
                raise AssertionError(f"flowtui web did not say {marker!r}: {text}")
            text += chunk.decode()
        while not text.endswith("\n"):
            text += os.read(self.proc.stdout.fileno(), 4096).decode()
        return text

    def errors(self) -> str:
        return (self.tmp / "web.err").read_text()

    def stop(self) -> int:
        self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=15)


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebServer]:
    """On 127.0.0.1 (the default): the browser test and the loopback checks share it."""
    server = WebServer(tmp_path_factory.mktemp("web"))
    yield server
    assert server.stop() == 0
    assert "plain HTTP" not in server.errors()  # on loopback: no warning


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # a redirect is what is checked: urllib would follow it without the cookie


def request(url: str, headers: dict[str, str] | None = None) -> tuple[int, list[str]]:
    """The status and the `Set-Cookie` headers of a GET (a redirect not followed)."""
    code, cookies, _ = response(url, headers)
    return code, cookies


def response(url: str, headers: dict[str, str] | None = None) -> tuple[int, list[str], str]:
    """The status, the `Set-Cookie` headers and the `Location` of a GET."""
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        with opener.open(urllib.request.Request(url, headers=headers or {})) as r:
            return int(r.status), r.headers.get_all("Set-Cookie") or [], ""
    except urllib.error.HTTPError as exc:
        cookies = exc.headers.get_all("Set-Cookie") or []
        return exc.code, cookies, exc.headers.get("Location", "")


def status(url: str, headers: dict[str, str] | None = None) -> int:
    return request(url, headers)[0]


async def websocket_status(url: str, headers: dict[str, str] | None = None) -> int:
    """101 when the websocket opens, else the HTTP status that refused it."""
    async with aiohttp.ClientSession() as session:
        try:
            async with session.ws_connect(url, headers=headers):
                return 101
        except aiohttp.WSServerHandshakeError as exc:
            return exc.status


def wait_for_screen(page: Page, text: str, timeout: float = 15.0) -> None:
    """Until the terminal shows `text` (read through CDP: the page's Content-Security-Policy
    refuses Playwright's own string evaluation, as it would any injected script)."""
    deadline = time.monotonic() + timeout
    while text not in (screen := page.evaluate(SCREEN)):
        assert time.monotonic() < deadline, f"not on the screen: {text!r}\n{screen}"
        page.wait_for_timeout(50)


def test_the_dashboard_in_headless_chromium(
    served: WebServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The URL `flowtui web` printed (with its token) opens the dashboard; the page's scripts
    and the websocket carry the token in the cookie that first page set, and the token leaves
    the address bar. Given with a link's `#run=N&step=S` (flowtui.cli.links), it opens on run
    N (not the newest) and S's log."""
    from playwright.sync_api import sync_playwright

    assert Path(CHROMIUM).exists(), "install Debian's chromium (apt-get install -y chromium)"
    base = f"http://127.0.0.1:{served.port}"
    assert served.url.startswith(f"{base}/?token=")
    monkeypatch.setenv("FLOWTUI_DB", str(served.tmp / "history.db"))
    monkeypatch.setenv("FLOWTUI_WEB_URL", base)
    hello = str(served.tmp / "flows" / "hello.yaml")
    assert main(["run", hello, "--quiet"]) == 0
    older = max(row[0] for row in sqlite_rows(served, "SELECT id FROM runs"))
    assert main(["run", hello, "--quiet"]) == 0  # the newest: shown when no link says
    link = run_url(older, "greet")
    assert link == f"{base}/#run={older}&step=greet"
    with sync_playwright() as playwright:
        # a fresh profile (--user-data-dir) of its own
        browser = playwright.chromium.launch_persistent_context(
            tmp_path / "profile",
            executable_path=CHROMIUM,
            args=FLAGS,
            viewport={"width": 1000, "height": 640},
        )
        page = browser.new_page()
        # nothing may leave this machine: textual-serve's page names a Google font, which
        # the Content-Security-Policy keeps the browser from even asking for
        elsewhere: list[str] = []

        def refuse(route: Route) -> None:
            elsewhere.append(route.request.url)
            route.abort()

        page.route(lambda url: not url.startswith(base), refuse)
        page.add_init_script(CATCH_TERMINAL)
        page.goto(served.url + link[len(base) + 1 :])
        wait_for_screen(page, f"hello  ·  run #{older}  ·  ✓ succeeded")
        wait_for_screen(page, f"run #{older} · greet")  # the logs tab, on greet's log
        assert page.url == link  # the token left the address bar for a cookie; the link stays
        assert "Workf" in page.evaluate(SCREEN)  # the workflow list's header
        page.click("#terminal")  # the keyboard goes to the terminal
        page.keyboard.press("g")
        page.keyboard.press("r")
        wait_for_screen(page, f"hello  ·  run #{older + 2}  ·  ✓ succeeded")
        screen = page.evaluate(SCREEN)
        assert "✓ greet" in screen and "✓ done" in screen
        # what needs a real terminal says so (its output would break the page's stream)
        page.keyboard.press("e")
        wait_for_screen(page, "an editor needs a terminal")
        browser.close()
    assert elsewhere == []


def sqlite_rows(served: WebServer, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(served.tmp / "history.db") as conn:
        return conn.execute(sql).fetchall()


def test_loopback_needs_the_token_too(served: WebServer) -> None:
    """Another user of this machine reaches 127.0.0.1 as well: without the token, nothing."""
    token = served_token(served.url)
    assert len(token) >= 32 and token in served.printed
    base = f"http://127.0.0.1:{served.port}"
    for path in ("/", "/static/js/textual.js"):
        assert status(base + path) == 401
        assert status(f"{base}{path}?token=wrong") == 403
    assert status(f"{base}/static/js/textual.js?token={token}") == 200
    ws = f"ws://127.0.0.1:{served.port}/ws"
    assert asyncio.run(websocket_status(ws)) == 401
    assert asyncio.run(websocket_status(f"{ws}?token=wrong")) == 403
    assert asyncio.run(websocket_status(f"{ws}/run/1?token=wrong")) == 403  # a link's too
    # the first page sets the cookie the rest of the page's requests carry, and sends the
    # browser to the page without the token in its URL (other parameters kept)
    code, cookies, location = response(f"{base}/?fontsize=14&token={token}")
    assert code == 303 and location == "/?fontsize=14" and len(cookies) == 1
    cookie = cookies[0].split(";")[0]
    assert cookie == f"flowtui_web_{served.port}={token}"
    assert "HttpOnly" in cookies[0] and "SameSite=Strict" in cookies[0]
    assert status(f"{base}/static/js/textual.js", {"Cookie": cookie}) == 200
    assert status(f"{base}/", {"Cookie": cookie}) == 200
    assert status(base + "/", {"Cookie": f"flowtui_web_{served.port}=wrong"}) == 403


def test_refusals_on_loopback(
    served: WebServer, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """With the token: a foreign Host (DNS rebinding) or Origin (cross-site websocket
    hijacking) is still refused."""
    token = served_token(served.url)
    base = f"http://127.0.0.1:{served.port}"
    assert status(f"{base}/?token={token}") == 303
    # DNS rebinding: a page of evil.example resolved to 127.0.0.1 names its own host
    assert status(f"{base}/?token={token}", {"Host": f"evil.example:{served.port}"}) == 403
    ws = f"ws://127.0.0.1:{served.port}/ws?token={token}"
    # cross-site websocket hijacking: another site's page opening our websocket
    assert asyncio.run(websocket_status(ws, {"Origin": "http://evil.example"})) == 403
    # the port is taken: a clear error, no traceback (in this process: a start costs seconds)
    monkeypatch.setenv("FLOWTUI_DB", str(served.tmp / "history.db"))
    assert main(["web", str(served.tmp / "flows"), "--port", str(served.port)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"flowtui: error: 127.0.0.1:{served.port} is already in use")


def test_another_address_needs_the_token_on_every_request(tmp_path: Path) -> None:
    server = WebServer(tmp_path, "--host", "0.0.0.0")
    try:
        token = served_token(server.url)
        assert token and token in server.printed
        base = f"http://127.0.0.1:{server.port}"
        for path in ("/", "/static/js/textual.js"):
            assert status(base + path) == 401
            assert status(f"{base}{path}?token=wrong") == 403
        assert status(f"{base}/static/js/textual.js?token={token}") == 200
        # said once, at the start: plain HTTP on every address
        assert "reachable from other machines over plain HTTP" in server.errors()
        # bound to every address, any name reaches it: the token is the check
        assert status(f"{base}/?token={token}", {"Host": f"ci.example:{server.port}"}) == 303
        ws = f"ws://127.0.0.1:{server.port}/ws"
        assert asyncio.run(websocket_status(ws)) == 401
        assert asyncio.run(websocket_status(f"{ws}?token=wrong")) == 403
        cookie = {"Cookie": f"flowtui_web_{server.port}=wrong"}
        assert asyncio.run(websocket_status(ws, cookie)) == 403
    finally:
        assert server.stop() == 0


def served_token(url: str) -> str:
    return url.split("?token=", 1)[1] if "?token=" in url else ""


def test_a_history_that_cannot_work_is_refused_before_serving(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    with socket.socket() as probe:  # a port nobody listens on: no PostgreSQL there
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("FLOWTUI_DB", f"postgresql://nobody@127.0.0.1:{port}/none")
    assert main(["web", "--port", "0"]) == 1
    captured = capsys.readouterr()
    assert captured.err.startswith("flowtui: error: cannot open the history")
    assert "Traceback" not in captured.err and captured.out == ""
