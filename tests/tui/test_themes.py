from __future__ import annotations

from pathlib import Path

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
