from __future__ import annotations

from pathlib import Path

import pytest

import flowtui
from flowtui.tui import themes
from flowtui.tui.themes import BUNDLED_DIR, load_themes


def test_bundled_themes_load() -> None:
    themes, problems = load_themes(BUNDLED_DIR)
    assert problems == []
    assert {t.name for t in themes} >= {"flowtui-dark", "flowtui-light", "flowtui-high-contrast"}


def test_user_theme_overrides_and_bad_files_are_reported(tmp_path: Path) -> None:
    (tmp_path / "mine.toml").write_text('name = "flowtui-dark"\nprimary = "#ff0000"\n')
    (tmp_path / "bad.toml").write_text("name = [unclosed\n")
    (tmp_path / "typo.toml").write_text('name = "x"\nprimray = "#fff"\nprimary = "#fff"\n')
    themes, problems = load_themes(BUNDLED_DIR, tmp_path)
    dark = next(t for t in themes if t.name == "flowtui-dark")
    assert dark.primary == "#ff0000"
    assert sorted(p.path.name for p in problems) == ["bad.toml", "typo.toml"]
    assert "primray" in str(next(p for p in problems if p.path.name == "typo.toml"))


def test_bundled_themes_are_package_data() -> None:
    # inside the package, so a wheel ships them (tests/packaging/test_wheel.py installs one)
    assert Path(str(BUNDLED_DIR)) == Path(flowtui.__file__).parent / "themes"


def test_default_folders_are_bundled_then_user(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "mine.toml").write_text('name = "mine"\nprimary = "#123456"\n')
    monkeypatch.setattr(themes, "user_theme_dir", lambda: tmp_path)
    found, problems = themes.load_themes()
    assert problems == []
    assert {t.name for t in found} >= {"flowtui-dark", "flowtui-light", "mine"}


def test_missing_bundled_themes_are_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(themes, "BUNDLED_DIR", tmp_path / "gone")
    monkeypatch.setattr(themes, "user_theme_dir", lambda: tmp_path / "no-user-themes")
    found, problems = themes.load_themes()
    assert found == []
    assert [p.path for p in problems] == [tmp_path / "gone"]
    assert "bundled themes missing" in str(problems[0])
