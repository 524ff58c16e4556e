"""textual-serve's server with `flowtui web`'s checks in front of every request (see web.py)."""

from __future__ import annotations

import hmac
import ipaddress
import shlex
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from urllib.parse import urlencode, urlsplit

from aiohttp import web
from textual_serve.server import Server

LOOPBACK_NAMES = frozenset({"localhost", "127.0.0.1", "::1"})
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def is_loopback(host: str) -> bool:
    if host.lower() in LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


# the page and what it loads come from this server only: textual-serve's page names a Google
# font, which would tell Google of every page load (and fail offline); scripts and styles
# are the page's own (inline ones included), the websocket is same-origin
CONTENT_POLICY = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; font-src 'self' data:; connect-src 'self'; frame-ancestors 'none'"
)


# A link's `#run=N&step=S` (flowtui/cli/links.py) never reaches the server: the browser keeps
# fragments to itself. So the page passes it on in its websocket's path (/ws/run/N/step/S),
# which starts that tab's dashboard with `--open-run N --open-step S`. The step is taken in
# the shape `links.run_url` writes (percent-encoded); textual.js adds `?width=...` after it.
PASS_LINK = """<script>
(function () {
  var link = /^#run=([0-9]+)(?:&step=([A-Za-z0-9_.~%-]+))?$/.exec(window.location.hash);
  if (!link) return;
  var terminal = document.getElementById("terminal");
  terminal.dataset.sessionWebsocketUrl +=
    "/run/" + link[1] + (link[2] ? "/step/" + link[2] : "");
})();
</script>
"""

# the dashboard options of the websocket being opened, read by `command` as textual-serve
# starts its process (in the request's task: one tab's link never reaches another tab)
_opened: ContextVar[tuple[str, ...]] = ContextVar("flowtui_web_opened", default=())


class DashboardServer(Server):
    """textual-serve's server with flowtui's checks in front of every request."""

    def __init__(self, command: str, *, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="flowtui")
        self.token = token
        self.cookie = f"flowtui_web_{port}"  # cookies ignore ports: one name per server
        self.loopback = is_loopback(host)

    @property
    def command(self) -> str:
        """The dashboard's shell command, with the run the tab's link named (if any)."""
        extra = _opened.get()
        return f"{self._command} {shlex.join(extra)}" if extra else self._command

    @command.setter
    def command(self, value: str) -> None:
        self._command = value

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        app.router.add_get(r"/ws/run/{run:\d{1,18}}", self.handle_linked_websocket)
        app.router.add_get(r"/ws/run/{run:\d{1,18}}/step/{step}", self.handle_linked_websocket)
        return app

    async def handle_linked_websocket(self, request: web.Request) -> web.StreamResponse:
        opened = ["--open-run", request.match_info["run"]]
        if step := request.match_info.get("step"):
            opened += ["--open-step", step]
        _opened.set(tuple(opened))
        return await self.handle_websocket(request)

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        if request.query.get("token") and request.path == "/":
            # the token leaves the address bar (and the history, bookmarks, screen shares) at
            # once: the page is reached again without it, carried by the cookie set here; the
            # browser keeps the fragment (`#run=N`) across the redirect
            query = urlencode([(k, v) for k, v in request.query.items() if k != "token"])
            again = "/" + (f"?{query}" if query else "")
            response: web.StreamResponse = web.Response(status=303, headers={"Location": again})
        else:
            response = await handler(request)
        if request.query.get("token") and not response.prepared:
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        if not response.prepared:
            response.headers["Referrer-Policy"] = "no-referrer"  # never the page's URL elsewhere
            response.headers["Content-Security-Policy"] = CONTENT_POLICY
        return response

    def refusal(self, request: web.Request) -> web.Response | None:
        """Why `request` is refused (Host, then token, then Origin), or None."""
        if self.loopback and not is_loopback(urlsplit(f"//{request.host}").hostname or ""):
            # DNS rebinding: a page of evil.example resolved to 127.0.0.1 names its own host
            return web.Response(status=403, text="flowtui web: only for 127.0.0.1/localhost\n")
        given = request.query.get("token") or request.cookies.get(self.cookie, "")
        if not given:
            return web.Response(
                status=401, text="flowtui web: open the URL with ?token= that it printed\n"
            )
        if not hmac.compare_digest(given.encode(), self.token.encode()):
            return web.Response(status=403, text="flowtui web: wrong token\n")
        origin = request.headers.get("Origin")
        if origin and urlsplit(origin).netloc != request.host:
            return web.Response(status=403, text="flowtui web: cross-origin request refused\n")
        return None

    async def handle_index(self, request: web.Request) -> web.StreamResponse:
        # the page's static and websocket URLs point where the browser reached us (the bound
        # address may be 0.0.0.0); the token was given (and, on loopback, the Host checked)
        self.public_url = f"{request.scheme}://{request.host}"
        page = await super().handle_index(request)
        if isinstance(page, web.Response) and page.text is not None:
            page.text = page.text.replace("</body>", PASS_LINK + "</body>", 1)
        return page

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve's banner is not printed: `cmd_web` says what is served, and where."""


__all__ = ["DashboardServer", "is_loopback"]
