from __future__ import annotations

from pathlib import Path

import pytest
from rich.style import Style
from textual.color import Color
from textual.theme import Theme

import flowtui
from flowtui.tui import themes
from flowtui.tui.glyphs import STATUS_COLOUR, status_style
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


# -- contrast (WCAG 2: https://www.w3.org/TR/WCAG21/#dfn-contrast-ratio) ---------------------

TEXT_RATIO = 4.5  # words: the foreground, muted text, stderr lines, "held", "succeeded"…
GLYPH_RATIO = 3.0  # status glyphs alone (non-text contrast)
STATUS_KEYS = ("success", "error", "warning", "accent", "secondary", "primary")


def _luminance(colour: Color) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    return 0.2126 * channel(colour.r) + 0.7152 * channel(colour.g) + 0.0722 * channel(colour.b)


def contrast(a: Color, b: Color) -> float:
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def _resolved(variables: dict[str, str], key: str, background: Color) -> Color:
    """A theme variable as Textual paints it over `background` ("auto 60%", alpha)."""
    value = variables[key]
    if value.startswith("auto"):
        alpha = float(value.split()[1].rstrip("%")) / 100 if " " in value else 1.0
        return background + background.get_contrast_text(alpha)
    return background + Color.parse(value)


def test_contrast_ratio_matches_wcag_reference_values() -> None:
    assert contrast(Color(0, 0, 0), Color(255, 255, 255)) == pytest.approx(21.0)
    assert contrast(Color.parse("#777777"), Color(255, 255, 255)) == pytest.approx(4.48, abs=0.01)


@pytest.mark.parametrize("theme", load_themes(BUNDLED_DIR)[0], ids=lambda t: t.name)
def test_bundled_theme_text_and_status_colours_are_readable(theme: Theme) -> None:
    variables = theme.to_color_system().generate()
    failures = []
    for ground in ("background", "surface", "panel"):
        bg = Color.parse(variables[ground])
        for key in ("foreground", "text", "text-muted", *STATUS_KEYS):
            ratio = contrast(_resolved(variables, key, bg), bg)
            if ratio < TEXT_RATIO:
                failures.append(f"{key} on {ground}: {ratio:.2f} < {TEXT_RATIO}")
    assert failures == []


@pytest.mark.parametrize("theme", load_themes(BUNDLED_DIR)[0], ids=lambda t: t.name)
@pytest.mark.parametrize("status", sorted(STATUS_COLOUR))
def test_status_glyphs_stand_out_in_every_bundled_theme(theme: Theme, status: str) -> None:
    """The list, history and header paint glyphs with `status_style`; Textual's dim blends a
    colour half way to the background (a dimmed green on white was about 2:1)."""
    style = Style.parse(status_style(status, theme))
    assert style.color is not None
    colour = Color.from_rich_color(style.color)
    for ground in ("background", "surface", "panel"):
        bg = Color.parse(getattr(theme, ground))
        shown = colour.blend(bg, 0.5) if style.dim else colour
        assert contrast(shown, bg) >= GLYPH_RATIO, f"{status} on {ground}"
