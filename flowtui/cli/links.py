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
`flowtui.cli.visible`, which keeps exactly these links (a `flowtui://` or `$FLOWTUI_WEB_URL`
target) and shows every other escape sequence as text.
"""

from __future__ import annotations

import os
from typing import TextIO
from urllib.parse import quote

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
    url = os.environ.get("FLOWTUI_WEB_URL", "").strip()
    return url.split("#", 1)[0] if url.startswith(("http://", "https://")) else None


def run_url(run_id: int | str, step: str | None = None) -> str:
    """Where a run (or one of its steps) links to; the step name percent-encoded."""
    base = web_url()
    if base is not None:
        return f"{base}#run={run_id}" + (f"&step={quote(step, safe='')}" if step else "")
    return f"{SCHEME}run/{run_id}" + (f"/step/{quote(step, safe='')}" if step else "")


def trusted_prefixes() -> tuple[str, ...]:
    """The targets `visible` lets through: the ones `run_url` makes."""
    base = web_url()
    return (SCHEME, base) if base else (SCHEME,)


def hyperlink(text: str, url: str) -> str:
    """`text` as an OSC 8 hyperlink to `url` (rich's rendering)."""
    from rich.color import ColorSystem  # here: `flowtui run` starts without rich's styles
    from rich.style import Style

    return Style(link=url).render(text, color_system=ColorSystem.STANDARD)


__all__ = ["SCHEME", "hyperlink", "links_enabled", "run_url", "trusted_prefixes", "web_url"]
