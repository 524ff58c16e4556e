"""Run and step ids in the CLI's output as OSC 8 hyperlinks (docs/links.md).

Where they point:
- `$FLOWTUI_WEB_URL` set (where `flowtui web` is reachable): that page, with the run and step
  in its fragment (`http://127.0.0.1:8000/#run=5&step=deploy`): a click opens the dashboard;
- else `flowtui://run/5` and `flowtui://run/5/step/deploy`, which a terminal can be told to
  open with a command (kitty's `open-actions.conf`, WezTerm's `open-uri` event, iTerm2's
  Smart Selection), e.g. `flowtui show 5 --step deploy`.

When: on when stdout is a terminal whose `TERM` is not `dumb`, `linux` (the console prints
unknown OSC sequences) or `screen*` (GNU screen); off in a pipe or a file. `NO_COLOR` leaves
them on (they are not colour); `FLOWTUI_LINKS=0` turns them off, `FLOWTUI_LINKS=1` on.

The sequences are rendered by rich (`Style(link=...)`). Step output passes through
`flowtui.cli.visible`, which keeps exactly these links (`trusted_targets`: the whole target
has one of the two shapes above) and shows every other escape sequence as text.
"""

from __future__ import annotations

import os
import re
from typing import TextIO
from urllib.parse import quote, urlsplit, urlunsplit

SCHEME = "flowtui://"


def links_enabled(stream: TextIO) -> bool:
    forced = os.environ.get("FLOWTUI_LINKS", "")
    if forced in ("0", "1"):
        return forced == "1"
    term = os.environ.get("TERM", "")
    if term in ("", "dumb", "linux") or term.startswith("screen"):
        return False
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # a closed or a fake stream
        return False


def web_url() -> str | None:
    """`$FLOWTUI_WEB_URL` as the base of links: scheme, host and path ending in `/`; no query
    (a URL pasted from `flowtui web` carries `?token=`, which must never reach a link), no
    fragment, no user or password. None when unset or not an http(s) URL with a host."""
    parts = urlsplit(os.environ.get("FLOWTUI_WEB_URL", "").strip())
    host = parts.netloc.rpartition("@")[2]
    if parts.scheme not in ("http", "https") or not host:
        return None
    path = parts.path if parts.path.endswith("/") else parts.path + "/"
    return urlunsplit((parts.scheme, host, path, "", ""))


def run_url(run_id: int | str, step: str | None = None) -> str:
    """Where a run (or one of its steps) links to; the step name percent-encoded."""
    base = web_url()
    if base is not None:
        return f"{base}#run={run_id}" + (f"&step={quote(step, safe='')}" if step else "")
    return f"{SCHEME}run/{run_id}" + (f"/step/{quote(step, safe='')}" if step else "")


_NAME = r"[A-Za-z0-9_.~%-]+"  # a step name as `run_url` writes it (`quote`: percent-encoded)


def trusted_targets() -> str:
    """A regular expression of exactly the targets `run_url` makes: what `visible` lets
    through, whole (never a prefix: `http://127.0.0.1:8000@evil.example/` starts like one)."""
    targets = [rf"{re.escape(SCHEME)}run/\d+(?:/step/{_NAME})?"]
    base = web_url()
    if base is not None:
        targets.append(rf"{re.escape(base)}#run=\d+(?:&step={_NAME})?")
    return "|".join(targets)


def hyperlink(text: str, url: str) -> str:
    """`text` as an OSC 8 hyperlink to `url` (rich's rendering)."""
    from rich.color import ColorSystem  # here: `flowtui run` starts without rich's styles
    from rich.style import Style

    return Style(link=url).render(text, color_system=ColorSystem.STANDARD)


__all__ = ["SCHEME", "hyperlink", "links_enabled", "run_url", "trusted_targets", "web_url"]
