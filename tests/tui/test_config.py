"""The user config file: read, reported with file:line when wrong, the theme written back
in place (Pilot for what the dashboard does with it; a temp XDG_CONFIG_HOME throughout)."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from textual.widgets._footer import FooterKey

from flowtui.tui.app import PANELS, FlowApp
from flowtui.tui.config import checked, config_path, load_config, remember_theme
from flowtui.tui.keys import binding_ids
from flowtui.tui.screens.approval import ApprovalScreen
from flowtui.tui.screens.dialogs import HelpScreen
from flowtui.tui.widgets.footer import KeyFooter
from tests.tui.test_app import Notes, select, step_status, until, write
from tests.tui.test_keys import help_text

KNOWN_IDS = binding_ids(FlowApp.BINDINGS, *(widget.BINDINGS for _, widget in PANELS))


@pytest.fixture
def xdg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home))
    return home


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    wf = tmp_path / "workflows"
    wf.mkdir()
    write(
        wf,
        "gate.yaml",
        """
        name: gate
        steps:
          approve: {type: approval}
        """,
    )
    return wf


def put(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def test_the_file_is_under_xdg_config_home(xdg: Path) -> None:
    assert config_path() == xdg / "flowtui" / "config.toml"


def test_a_missing_file_means_defaults(xdg: Path) -> None:
    config = load_config()
    assert (config.theme, config.folder, config.keymap, config.problems) == (None, None, {}, ())


def test_settings_are_read(xdg: Path, tmp_path: Path) -> None:
    put(
        config_path(),
        f"""
        theme = "flowtui-light"
        folder = "{tmp_path}"
        [keymap]
        approve = "A"
        """,
    )
    config = load_config()
    assert config.theme == "flowtui-light"
    assert config.folder == tmp_path
    assert config.keymap == {"approve": "A"}
    assert config.problems == ()


def test_a_malformed_file_names_its_line_and_gives_defaults(xdg: Path) -> None:
    path = put(config_path(), 'theme = "flowtui-light"\n[keymap]\napprove = \n')
    config = load_config()
    assert config.theme is None and config.keymap == {}
    assert len(config.problems) == 1
    assert config.problems[0].startswith(f"{path}:3:"), config.problems


def test_wrong_values_are_named_by_line_and_the_rest_is_kept(xdg: Path) -> None:
    path = put(config_path(), 'theme = 3\ncolour = "red"\n[keymap]\nrun = "R"\nreject = 5\n')
    config = load_config()
    assert config.theme is None
    assert config.keymap == {"run": "R"}
    assert config.details[0].startswith(f"{path}:1: theme")
    assert config.details[1].startswith(f"{path}:2: colour"), config.details
    assert config.details[2].startswith(f"{path}:5: reject"), config.details
    # the dashboard's note is one short line: the first problem, and how to see them all
    assert config.problems == (
        "config.toml: 3 problems — first: line 1: theme: should be a theme's name in quotes "
        "(all: flowtui dashboard --check-config)",
    )


def test_an_unknown_binding_id_is_at_its_line_with_the_closest_id(xdg: Path) -> None:
    path = put(config_path(), '[keymap]\napprove = "A"\n\napprov = "B"\nzzzz = "z"\n')
    config = checked(load_config(), KNOWN_IDS)
    assert config.keymap == {"approve": "A"}
    assert config.details == (
        f"{path}:4: approv: unknown binding id; did you mean `approve`?",
        f"{path}:5: zzzz: unknown binding id; press ? in the dashboard to see the ids",
    )


def test_an_unknown_theme_is_at_its_line_with_the_themes(xdg: Path) -> None:
    path = put(config_path(), '# mine\ntheme = "nosuch"\n')
    assert load_config().theme == "nosuch"  # checked against the themes there are:
    config = checked(load_config(), KNOWN_IDS)
    assert config.theme is None
    (problem,) = config.details
    assert problem.startswith(f"{path}:2: theme: unknown theme 'nosuch' (themes: ")
    assert "flowtui-light" in problem and "nord" in problem
    # too long for a note: the note is cut and says where to read it whole
    (note,) = config.problems
    assert note.startswith("config.toml: line 2: theme: unknown theme 'nosuch'")
    assert note.endswith("(in full: flowtui dashboard --check-config)")
    assert len(note) < 140


def test_check_config_prints_every_problem(xdg: Path) -> None:
    path = put(config_path(), 'theme = "nosuch"\n[keymap]\nbogus = "z"\n')
    env = {**os.environ, "XDG_CONFIG_HOME": str(xdg)}
    command = [sys.executable, "-m", "flowtui", "dashboard", "--check-config"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(": ")[0] for line in lines] == [f"{path}:1", f"{path}:3"]
    path.write_text('theme = "nord"\n')
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=60)
    assert (done.returncode, done.stdout) == (0, f"{path}: fine\n")


def test_remembering_the_theme_keeps_the_rest_and_is_private(xdg: Path) -> None:
    text = '# my settings\ntheme = "flowtui-dark"  # was\nfolder = "~/flows"\n[keymap]\nrun = "R"\n'
    path = put(config_path(), text)
    remember_theme(path, "flowtui-light")
    assert path.read_text() == text.replace('"flowtui-dark"  # was', '"flowtui-light"')
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config()
    assert config.theme == "flowtui-light" and config.keymap == {"run": "R"}
    # a new file, and a file without a theme line
    other = xdg / "new" / "config.toml"
    remember_theme(other, "nord")
    assert load_config(other).theme == "nord"
    put(path, '[keymap]\nrun = "R"\n')
    remember_theme(path, "nord")
    assert load_config(path).theme == "nord" and load_config(path).keymap == {"run": "R"}


def test_a_malformed_file_is_not_rewritten(xdg: Path) -> None:
    path = put(config_path(), "theme = \n")
    with pytest.raises(ValueError):
        remember_theme(path, "nord")
    assert path.read_text() == "theme = \n"


async def test_the_dashboard_starts_with_defaults_and_says_where_the_file_is_wrong(
    xdg: Path, folder: Path, tmp_path: Path
) -> None:
    path = put(config_path(), 'theme = "flowtui-light"\n[keymap\n')
    notes = Notes()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, config=load_config())
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await app.ready.wait()
        await notes.all_in(pilot, app)
        assert notes.matching(f"{path}:2:"), notes.messages
        assert app.theme == "flowtui-dark"


async def test_the_keymap_moves_a_binding_and_help_shows_it(
    xdg: Path, folder: Path, tmp_path: Path
) -> None:
    put(config_path(), 'theme = "nosuch"\n[keymap]\napprove = "A"\nnot_a_binding = "z"\n')
    notes = Notes()
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, config=load_config())
    async with app.run_test(size=(120, 40), message_hook=notes) as pilot:
        await app.ready.wait()
        await notes.all_in(pilot, app)
        # one short note for the whole file, naming the first problem at its line
        (note,) = [m for m in notes.messages if "config.toml" in m or "nosuch" in m]
        assert note.startswith("config.toml: 2 problems — first: line 1: theme: unknown theme")
        assert note.endswith("(all: flowtui dashboard --check-config)")
        assert len(note) < 140
        assert app.theme == "flowtui-dark"
        # the footer shows the moved key in its place, not at the end
        shown = [key.key for key in app.query_one(KeyFooter).query(FooterKey)]
        assert shown.index("r") < shown.index("A") < shown.index("x"), shown
        await select(pilot, app, "gate")
        await pilot.press("r")
        await until(pilot, lambda: step_status(app, 1, "approve") == "held")
        await pilot.press("a")  # moved away: no longer approves
        await pilot.pause()
        assert not isinstance(app.screen, ApprovalScreen)
        await pilot.press("A")
        await until(pilot, lambda: isinstance(app.screen, ApprovalScreen))
        await pilot.press("escape")
        await until(pilot, lambda: not isinstance(app.screen, ApprovalScreen))
        await pilot.press("question_mark")
        await until(pilot, lambda: isinstance(app.screen, HelpScreen))
        text = help_text(app)
        assert any(line.split()[:2] == ["A", "Approve"] for line in text.splitlines() if line)


async def test_a_theme_chosen_in_the_dashboard_is_remembered(
    xdg: Path, folder: Path, tmp_path: Path
) -> None:
    path = put(config_path(), '# mine\n[keymap]\nrun = "r"\n')
    app = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, config=load_config())
    async with app.run_test(size=(120, 40)) as pilot:
        await app.ready.wait()
        assert load_config().theme is None  # starting does not write
        app.theme = "flowtui-light"  # what the palette's theme picker does
        await until(pilot, lambda: load_config().theme == "flowtui-light")
    assert path.read_text().startswith("# mine\n")
    assert load_config().keymap == {"run": "r"}
    again = FlowApp(folder, db_path=tmp_path / "h.db", watch=False, config=load_config())
    async with again.run_test(size=(120, 40)):
        await again.ready.wait()
        assert again.theme == "flowtui-light"
