"""textual-serve's server with `flowtui web`'s checks in front of every request (see web.py)."""

from __future__ import annotations

import hmac
import ipaddress
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

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


class DashboardServer(Server):
    """textual-serve's server with flowtui's checks in front of every request."""

    def __init__(self, command: str, *, host: str, port: int, token: str) -> None:
        super().__init__(command, host=host, port=port, title="flowtui")
        self.token = token
        self.cookie = f"flowtui_web_{port}"  # cookies ignore ports: one name per server
        self.loopback = is_loopback(host)

    async def _make_app(self) -> web.Application:
        app = await super()._make_app()
        app.middlewares.append(self._guard)
        return app

    @web.middleware
    async def _guard(self, request: web.Request, handler: Handler) -> web.StreamResponse:
        refusal = self.refusal(request)
        if refusal is not None:
            return refusal
        response = await handler(request)
        if request.query.get("token") and not response.prepared:
            response.set_cookie(self.cookie, self.token, httponly=True, samesite="Strict", path="/")
        if not response.prepared:
            response.headers["Referrer-Policy"] = "no-referrer"  # the token is in the URL
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
        return await super().handle_index(request)

    async def on_startup(self, app: web.Application) -> None:
        """textual-serve's banner is not printed: `cmd_web` says what is served, and where."""


__all__ = ["DashboardServer", "is_loopback"]
