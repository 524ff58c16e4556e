"""Secrets reach steps as environment variables and are masked in everything a user can see.

A real script prints the secret in every form a leak usually takes; the history file, the
CLI (`run`, `logs`, `show`) and the dashboard's log view must show `***` instead.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import stat
import textwrap
from pathlib import Path
from urllib.parse import quote

import pytest

from flowtui.engine.secrets import MASK, LineMasker, Masker
from tests.cli.conftest import Cli
from tests.engine.conftest import HttpServer

from .conftest import db_text, write

SECRET = 'p4ss"w0rd\\with/slash+plus=eq&amp;ok-Zq9'
KEY = (
    "-----BEGIN TEST KEY-----\nMIIBOgIBAAJBAKj34GkxFhD9zQ\nq7Yt0kXcPz1LmN8vWb\n"
    "-----END TEST KEY-----"
)
PREFIX = "Authorization: "


def _b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def _inside_b64(before: str) -> str:
    """The part of b64(before + PREFIX + SECRET + ...) that encodes only the secret's bytes."""
    encoded = _b64(before + PREFIX + SECRET + " trailing")
    start = len((before + PREFIX).encode())
    end = start + len(SECRET.encode())
    return encoded[-(-8 * start // 6) + 1 : 8 * end // 6 - 1]


HALF = len(SECRET) // 2
FORBIDDEN = [
    SECRET,
    SECRET[:HALF],
    SECRET[HALF:],
    _b64(SECRET).rstrip("="),
    base64.urlsafe_b64encode(SECRET.encode()).decode().rstrip("="),
    quote(SECRET, safe=""),
    json.dumps(SECRET)[1:-1],
    json.dumps(KEY)[1:-1],
    *KEY.splitlines(),
    *[_inside_b64(before) for before in ("a", "ab", "abc")],
]

SCRIPT = """\
import base64, hashlib, json, os, sys, urllib.parse
s = os.environ["API_TOKEN"]
k = os.environ["SIGNING_KEY"]
print("sha:", hashlib.sha256(s.encode()).hexdigest(), hashlib.sha256(k.encode()).hexdigest())
print("plain:", s)
print("b64:", base64.b64encode(s.encode()).decode())
print("b64 nopad:", base64.b64encode(s.encode()).decode().rstrip("="))
print("urlsafe:", base64.urlsafe_b64encode(s.encode()).decode().rstrip("="))
for before in ("a", "ab", "abc"):
    text = before + "Authorization: " + s + " trailing"
    print("inside b64:", base64.b64encode(text.encode()).decode())
print("url:", urllib.parse.quote(s, safe=""))
print("json:", json.dumps({"token": s}))
print("stderr:", s, file=sys.stderr)
print("key json:", json.dumps(k))
print(k)
half = len(s) // 2
print("split:", s[:half])
print(s[half:], "(rest)")
wrapped = base64.b64encode((s * 3).encode()).decode()
print("wrapped:")
for i in range(0, len(wrapped), 20):
    print(wrapped[i : i + 20])
print("end wrapped")
with open(os.environ["FLOWTUI_OUTPUT"], "a") as out:
    out.write(f"token={s}\\nsummary=done with {s}\\n")
"""


def _workflow(folder: Path) -> Path:
    key = folder / "signing.key"
    key.write_text(KEY + "\n")
    key.chmod(0o600)
    body = textwrap.indent(SCRIPT, " " * 6)
    return write(
        folder / "leaky.yaml",
        f"""\
name: leaky
secrets:
  API_TOKEN: {{env: LEAKY_TOKEN}}
  SIGNING_KEY: {{file: signing.key}}
steps:
  leak:
    shell: python
    run: |
{body}
""",
    )


def _assert_masked(text: str, where: str) -> None:
    leaked = [f for f in FORBIDDEN if f in text]
    assert not leaked, f"{where} shows the secret as {leaked}"
    assert MASK in text, f"{where} shows no masked value at all"


@pytest.fixture
def leaky(cli: Cli, tmp_path: Path) -> Path:
    cli.env["LEAKY_TOKEN"] = SECRET
    return _workflow(tmp_path)


def test_a_script_printing_the_secret_in_every_form_shows_only_masks(cli: Cli, leaky: Path) -> None:
    result = cli("run", str(leaky))
    assert result.returncode == 0, result.stdout + result.stderr
    _assert_masked(result.stdout + result.stderr, "flowtui run")

    lines = [str(r[0]) for r in cli.query("SELECT line FROM logs WHERE step = 'leak'")]
    # the script really had both values
    expected_sha = (
        f"sha: {hashlib.sha256(SECRET.encode()).hexdigest()} "
        f"{hashlib.sha256(KEY.encode()).hexdigest()}"
    )
    assert expected_sha in lines
    stored = "\n".join(lines)
    _assert_masked(stored, "the stored log")
    assert "plain: ***" in lines and "stderr: ***" in lines and 'json: {"token": "***"}' in lines
    block = lines[lines.index("wrapped:") + 1 : lines.index("end wrapped")]
    assert block and all(MASK in line for line in block), block

    # nothing of the value is anywhere in the database: rows, params, definition, events
    dump = db_text(cli.db)
    assert not [f for f in FORBIDDEN if f in dump]
    for path in cli.db.parent.glob(cli.db.name + "*"):
        assert SECRET.encode() not in path.read_bytes(), path
    message, outputs = (
        cli.query("SELECT message FROM steps WHERE name = 'leak'")[0][0],
        dict(cli.query("SELECT key, value FROM outputs")),  # type: ignore[arg-type]
    )
    assert message == "done with ***"
    assert outputs == {"token": "***", "summary": "done with ***"}

    logs = cli("logs", "1")
    assert logs.returncode == 0, logs.stderr
    _assert_masked(logs.stdout, "flowtui logs")
    show = cli("show", "1", "--lines", "200")
    assert show.returncode == 0, show.stderr
    _assert_masked(show.stdout, "flowtui show")
    assert "token = ***" in show.stdout


async def test_the_dashboard_log_view_shows_only_masks(
    leaky: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from flowtui.tui.app import FlowApp
    from flowtui.tui.widgets.log_view import LogView
    from tests.tui.test_app import SIZE, run_status, select, until

    monkeypatch.setenv("LEAKY_TOKEN", SECRET)
    app = FlowApp(leaky.parent, db_path=tmp_path / "dash.db", watch=False)
    async with app.run_test(size=SIZE) as pilot:
        await app.ready.wait()
        await select(pilot, app, "leaky")
        await pilot.press("r")
        await until(pilot, lambda: run_status(app, 1) == "succeeded")
        await pilot.press("l")
        view = app.query_one(LogView)
        await until(pilot, lambda: any(line.endswith("end wrapped") for line in view.lines))
        _assert_masked("\n".join(view.lines), "the dashboard log view")


def test_http_step_bodies_and_outputs_are_masked(
    cli: Cli, tmp_path: Path, http_server: HttpServer
) -> None:
    cli.env["LEAKY_TOKEN"] = SECRET
    wf = write(
        tmp_path / "api.yaml",
        f"""\
        name: api
        secrets:
          API_TOKEN: {{env: LEAKY_TOKEN}}
        steps:
          call:
            type: http
            url: {http_server.url}/echo
            method: POST
            headers: {{Authorization: "Bearer ${{API_TOKEN}}"}}
            json: {{token: "${{API_TOKEN}}"}}
        """,
    )
    result = cli("run", str(wf))
    assert result.returncode == 0, result.stdout + result.stderr
    (request,) = http_server.requests
    assert request.headers["Authorization"] == f"Bearer {SECRET}"  # the server got it
    dump = db_text(cli.db)
    assert SECRET not in dump and json.dumps(SECRET)[1:-1] not in dump
    assert "Bearer ***" in dump
    assert SECRET not in result.stdout


def test_a_missing_variable_fails_the_run_naming_the_secret(cli: Cli, leaky: Path) -> None:
    del cli.env["LEAKY_TOKEN"]
    result = cli("run", str(leaky))
    assert result.returncode == 1
    assert "secret API_TOKEN: the environment variable LEAKY_TOKEN is not set" in result.stdout
    assert cli.query("SELECT status, message FROM runs") == [
        ("failed", "secret API_TOKEN: the environment variable LEAKY_TOKEN is not set")
    ]
    assert cli.query("SELECT COUNT(*) FROM logs WHERE step = 'leak'") == [(0,)]  # never ran


@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604])
def test_a_secret_file_others_can_read_is_refused(cli: Cli, leaky: Path, mode: int) -> None:
    key = leaky.parent / "signing.key"
    key.chmod(mode)
    result = cli("run", str(leaky))
    assert result.returncode == 1
    assert f"secret SIGNING_KEY: {key} is readable by others (mode {mode:04o})" in result.stdout
    assert "chmod 600" in result.stdout
    assert KEY.splitlines()[1] not in result.stdout + db_text(cli.db)


def test_a_secret_file_owned_by_someone_else_is_refused(cli: Cli, leaky: Path) -> None:
    if os.getuid() != 0:
        pytest.skip("giving a file to another user needs root")
    key = leaky.parent / "signing.key"
    os.chown(key, 65534, -1)
    result = cli("run", str(leaky))
    assert result.returncode == 1
    assert f"secret SIGNING_KEY: {key} must be owned by you" in result.stdout


def test_a_read_only_secret_file_is_accepted(cli: Cli, leaky: Path) -> None:
    key = leaky.parent / "signing.key"
    key.chmod(0o400)
    assert stat.S_IMODE(key.stat().st_mode) == 0o400
    result = cli("run", str(leaky))
    assert result.returncode == 0, result.stdout


# -- the masker on its own: alignments and lines split by the printer ----------------------
def test_base64_at_every_alignment_and_both_alphabets() -> None:
    masker = Masker([SECRET])
    for before in ("", "a", "ab", "abc", "abcd"):
        for after in ("", "x", "xy"):
            raw = (before + SECRET + after).encode()
            for encode in (base64.b64encode, base64.urlsafe_b64encode):
                text = encode(raw).decode()
                for shown in (text, text.rstrip("=")):
                    masked = masker.mask(shown)
                    assert MASK in masked
                    visible = masked.replace(MASK, "")
                    # only what encodes the bytes around the value (and padding) is left
                    bound = -(-8 * len(before) // 6) + -(-8 * len(after) // 6) + 4
                    assert len(visible) <= bound, (before, after, masked)


def test_a_value_split_over_several_lines_is_masked_in_each_part() -> None:
    out: list[str] = []
    lines = LineMasker(Masker([SECRET]), lambda line, _at: out.append(line))
    for part in ("token: " + SECRET[:7], SECRET[7:19], SECRET[19:] + " ok", "next"):
        lines.feed(part)
    lines.flush()
    assert out == ["token: ***", "***", "*** ok", "next"]


def test_a_line_that_only_starts_like_a_secret_is_not_held_forever() -> None:
    out: list[str] = []
    lines = LineMasker(Masker([SECRET]), lambda line, _at: out.append(line))
    lines.feed("prefix " + SECRET[:6])
    assert lines.holding
    lines.feed("something else")
    assert out == ["prefix " + SECRET[:6], "something else"]


def test_each_line_of_a_multi_line_secret_is_masked_wherever_it_appears() -> None:
    masker = Masker([KEY])
    for line in KEY.splitlines():
        assert masker.mask(f"x {line} y") == f"x {MASK} y"
    assert masker.mask("a\\nb " + json.dumps(KEY)) == 'a\\nb "***"'
