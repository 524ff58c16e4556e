"""A wheel install works on its own: the bundled themes and styles are package data.

The wheel is built from a copy of the sources (the build never writes into the checkout),
installed without dependencies into a fresh venv, and the venv sees the dependencies through a
`.pth` line naming this interpreter's site-packages.  A plain path line in a `.pth` does not run
the `.pth` files of that folder, so the editable install's finder living there is not installed
and `flowtui` can only come from the wheel (asserted).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
# what pyproject.toml needs to build: the project's metadata, its readme and the package
SOURCES = ("pyproject.toml", "README.md", "flowtui")
# pip could not install the build requirements (setuptools, wheel): no index reachable
_NO_INDEX = ("No matching distribution found", "Could not find a version that satisfies")

pytestmark = pytest.mark.timeout(180)


@dataclass(frozen=True)
class WheelVenv:
    root: Path
    python: Path
    wheel: Path

    def run(self, script: str, cwd: Path) -> subprocess.CompletedProcess[str]:
        home = self.root / "home"
        env = {
            **os.environ,
            # no user themes from the machine running the tests
            "HOME": str(home),
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_DATA_HOME": str(home / ".local" / "share"),
            "XDG_STATE_HOME": str(home / ".local" / "state"),
        }
        # -I: no PYTHONPATH, no user site, no script folder on sys.path
        return subprocess.run(
            [str(self.python), "-I", "-c", textwrap.dedent(script)],
            cwd=cwd,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
        )


def _build_wheel(tmp: Path) -> Path:
    src = tmp / "src"
    src.mkdir()
    for name in SOURCES:
        path = REPO / name
        if path.is_dir():
            shutil.copytree(path, src / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(path, src / name)
    dist = tmp / "dist"
    cmd = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(dist), "."]
    done = subprocess.run(cmd, cwd=src, capture_output=True, text=True, timeout=150)
    if done.returncode != 0:
        output = done.stdout + done.stderr
        if any(marker in output for marker in _NO_INDEX):
            pytest.skip(f"cannot build a wheel offline (build requirements):\n{output}")
        pytest.fail(f"building the wheel failed:\n{output}")
    (wheel,) = dist.glob("flowtui-*.whl")
    return wheel


def _site_packages(python: Path) -> Path:
    code = "import sysconfig; print(sysconfig.get_paths()['purelib'])"
    out = subprocess.run([str(python), "-I", "-c", code], capture_output=True, text=True)
    return Path(out.stdout.strip())


@pytest.fixture(scope="module")
def wheel_venv(tmp_path_factory: pytest.TempPathFactory) -> WheelVenv:
    tmp = tmp_path_factory.mktemp("wheel")
    wheel = _build_wheel(tmp)
    root = tmp / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(root)], check=True)
    python = root / "bin" / "python"
    install = [sys.executable, "-m", "pip", "--python", str(python), "install", "--quiet"]
    done = subprocess.run(
        [*install, "--no-deps", "--no-index", str(wheel)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    # the dependencies: this interpreter's site-packages, after the venv's own
    deps = dict.fromkeys(sysconfig.get_paths()[key] for key in ("purelib", "platlib"))
    (_site_packages(python) / "_flowtui_test_deps.pth").write_text(
        "".join(f"{path}\n" for path in deps)
    )
    return WheelVenv(root=root, python=python, wheel=wheel)


def test_wheel_ships_themes_and_styles(wheel_venv: WheelVenv) -> None:
    import zipfile

    names = set(zipfile.ZipFile(wheel_venv.wheel).namelist())
    for theme in ("flowtui-dark", "flowtui-light", "flowtui-high-contrast"):
        assert f"flowtui/themes/{theme}.toml" in names
    assert "flowtui/tui/styles/app.tcss" in names


def test_dashboard_from_wheel_uses_a_bundled_theme(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "hello.yaml").write_text("name: hello\nsteps:\n  greet:\n    run: echo hi\n")
    script = f"""
        import asyncio
        from pathlib import Path

        import flowtui
        from flowtui.tui.app import FlowApp

        venv = Path({str(wheel_venv.root)!r}).resolve()
        assert Path(flowtui.__file__).resolve().is_relative_to(venv), flowtui.__file__

        async def main():
            app = FlowApp(
                Path({str(folder)!r}),
                db_path=Path({str(tmp_path / "db.sqlite")!r}),
                theme="flowtui-light",
                watch=False,
                triggers=False,
            )
            # record notifications (a subclass would move CSS_PATH: Textual resolves it
            # next to the subclass's file)
            notes = []
            notify = app.notify

            def recording(message, *, title="", **kwargs):
                notes.append((title, str(message)))
                return notify(message, title=title, **kwargs)

            app.notify = recording
            async with app.run_test() as pilot:
                await pilot.pause()
                assert app.theme == "flowtui-light", app.theme
                assert {{"flowtui-dark", "flowtui-high-contrast"}} <= set(app.available_themes)
            bad = [n for n in notes if "theme" in n[0].lower() or "theme" in n[1].lower()]
            assert not bad, bad

        asyncio.run(main())
        print("OK", flowtui.__file__)
    """
    done = wheel_venv.run(script, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("OK "), done.stdout + done.stderr


def test_wheel_finds_bundled_samples(wheel_venv: WheelVenv, tmp_path: Path) -> None:
    # from a folder with no workflows of its own, the CLI finds and runs the bundled samples
    script = """
        import subprocess, sys
        from flowtui.cli.commands import BUNDLED_SAMPLES
        listed = subprocess.run(
            [sys.executable, "-m", "flowtui", "list"], capture_output=True, text=True
        )
        assert listed.returncode == 0 and "production-deploy" in listed.stdout, listed
        ran = subprocess.run(
            [sys.executable, "-m", "flowtui", "run", "sequential", "--db", "h.db"],
            capture_output=True, text=True,
        )
        assert ran.returncode == 0, ran
        print(BUNDLED_SAMPLES.is_dir(), BUNDLED_SAMPLES)
    """
    done = wheel_venv.run(script, cwd=tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith("True "), done.stdout
    assert "site-packages" in done.stdout, done.stdout
