"""Reading a request's path, query and body, each refused with a 400 that says what is wrong."""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from typing import Any

from aiohttp import web

from flowtui.api.errors import bad_request, not_found

MAX_ID = 2**63 - 1  # the history's ids are 64-bit


def clean(value: str, where: str) -> str:
    """`value` unless the history could not store it (a NUL, a lone surrogate)."""
    if "\x00" in value:
        raise bad_request(f"{where}: contains a NUL character")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"{where}: not valid Unicode text") from None
    return value


def run_id(request: web.Request) -> int:
    text = request.match_info["run_id"]
    if not text.isascii() or not text.isdigit() or not 0 < int(text) <= MAX_ID:
        raise not_found(f"no run {text!r}: a run id is a positive integer")
    return int(text)


def query_int(
    request: web.Request, name: str, default: int | None, low: int, high: int = MAX_ID
) -> int | None:
    text = request.query.get(name)
    if text is None or text == "":
        return default
    if not text.isascii() or not text.isdigit() or not low <= int(text) <= high:
        raise bad_request(f"query parameter {name}={text!r}: an integer from {low} to {high}")
    return int(text)


def query_str(
    request: web.Request, name: str, choices: Collection[str] | None = None
) -> str | None:
    text = request.query.get(name)
    if text is None or text == "":
        return None
    if choices is not None and text not in choices:
        raise bad_request(f"query parameter {name}={text!r}: one of {', '.join(choices)}")
    return clean(text, f"query parameter {name}")


async def body(request: web.Request, allowed: Collection[str]) -> dict[str, Any]:
    """The JSON object of the body (an empty body is `{}`); only `allowed` keys."""
    raw = await request.read()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise bad_request(f"the body is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise bad_request("the body must be a JSON object")
    unknown = sorted(set(data) - set(allowed))
    if unknown:
        raise bad_request(
            f"unknown key(s) {', '.join(unknown)}; allowed: {', '.join(sorted(allowed))}"
        )
    return data


def text_map(data: Mapping[str, Any], key: str) -> dict[str, str]:
    """`data[key]`: an object of text values (absent or null: empty)."""
    value = data.get(key)
    if value is None:
        return {}
    if not isinstance(value, dict) or not all(isinstance(v, str) for v in value.values()):
        raise bad_request(f"{key}: an object whose values are strings")
    return {clean(k, key): clean(v, f"{key}.{k}") for k, v in value.items()}


def text(data: Mapping[str, Any], key: str, default: str | None = None) -> str | None:
    value = data.get(key, default)
    if value is not None and not isinstance(value, str):
        raise bad_request(f"{key}: a string")
    return None if value is None else clean(value, key)
