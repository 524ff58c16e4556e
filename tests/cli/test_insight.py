"""A run seen from outside the dashboard, as real `python -m flowtui` processes: "slower
than usual", `show --compare/--timeline/--junit` and `graph` (boxes, compact, Mermaid)."""

from __future__ import annotations

import json
import re
import stat
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from tests.cli.conftest import Cli

DOC = Path(__file__).resolve().parents[2] / "docs" / "json.md"
FLOW = """\
name: flow
steps:
  prep: {run: 'echo "version=$PARAM_VERSION" >> "$FLOWTUI_OUTPUT"'}
  left: {requires: [prep], run: echo left}
  right: {requires: [prep], run: 'echo right; test "$PARAM_VERSION" != 2'}
  last: {requires: [left, right], run: echo done}
"""
# per run: (started offset, duration) of each step, written over the real times so the
# verdicts do not depend on how fast this machine is
TIMES = {
    1: {"prep": (0.0, 1.0), "left": (1.0, 0.2), "right": (1.0, 4.0), "last": (5.0, 1.0)},
    2: {"prep": (0.0, 1.0), "left": (1.0, 2.5), "right": (1.0, 1.0)},
}


@pytest.fixture(scope="module")
def history(tmp_path_factory: pytest.TempPathFactory) -> Cli:
    """Run 1 green (version 1), run 2 red (version 2: `right` fails, `last` never runs)."""
    cli = Cli(tmp_path_factory.mktemp("insight"))
    (cli.cwd / "flow.yaml").write_text(FLOW)
    assert cli("run", "flow.yaml", "-q", "-p", "version=1").returncode == 0
    assert cli("run", "flow.yaml", "-q", "-p", "version=2").returncode == 1
    base = 1_700_000_000.0
    for run_id, steps in TIMES.items():
        start = base + run_id * 100
        ends = [start + at + took for at, took in steps.values()]
        cli.query("UPDATE runs SET started_at=?, ended_at=? WHERE id=?", start, max(ends), run_id)
        for name, (at, took) in steps.items():
            cli.query(
                "UPDATE steps SET started_at=?, ended_at=? WHERE run_id=? AND name=?",
                start + at, start + at + took, run_id, name,
            )  # fmt: skip
    return cli


def test_show_says_slower_than_usual_with_figures(history: Cli) -> None:
    out = history("show", "2").stdout
    assert "slower than usual (2.5 s, usually 0.2 s)" in out
    assert "faster than usual (1.0 s, usually 4.0 s)" in out
    assert out.count("than usual") == 2  # prep took its usual time


def test_compare_with_the_last_green_run(history: Cli) -> None:
    result = history("show", "2", "--compare")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "compared with run #1 (succeeded)" in out
    assert "Slower: left  2.5 s, was 0.2 s" in out
    assert "Faster: right  1.0 s, was 4.0 s" in out
    assert "Status: right  failed, was succeeded" in out
    # one word for one state: `last` was never reached, as `show` and the graph say it
    assert "Status: last  not run, was succeeded" in out
    assert "pending" not in out
    assert re.search(r"last +○ not run", history("show", "2").stdout)
    assert "Output: prep.version  1 → 2" in out
    # no green run before run 1: said, with what to do
    first = history("show", "1", "--compare")
    assert first.returncode == 1 and "--compare OTHER" in first.stderr
    assert "compared with run #1" in history("show", "2", "--compare", "1").stdout


def test_compare_json_matches_the_doc(history: Cli) -> None:
    section = re.search(r"### `flowtui show RUN --compare[^`]*`\n.*?```json\n(.*?)```",
                        DOC.read_text(), re.S)  # fmt: skip
    assert section is not None, "docs/json.md documents show --compare --json"
    doc = json.loads(section.group(1))
    real = json.loads(history("show", "2", "--compare", "--json").stdout)
    assert set(doc) == set(real)
    assert set(doc["steps"][0]) == set(real["steps"][0])
    assert set(doc["outputs"][0]) == set(real["outputs"][0])
    paces = {s["name"]: s["pace"] for s in real["steps"]}
    assert paces == {"prep": None, "left": "slower", "right": "faster", "last": None}
    assert {s["name"]: s["status"] for s in real["steps"]}["last"] == "not_run"
    assert real["outputs"] == [{"step": "prep", "key": "version", "before": "1", "after": "2"}]


def test_timeline_brackets_parallel_starts(history: Cli) -> None:
    out = history("show", "1", "--timeline").stdout.splitlines()
    assert out[0] == "Execution Timeline: flow run #1"
    assert out[1:] == [
        "00:00 prep started",
        "00:01 prep succeeded (1.0s)",
        "00:01 ─┬─ (parallel)",
        "      ├─ left started",
        "      └─ right started",
        "00:01 left succeeded (0.2s)",
        "00:05 right succeeded (4.0s)",
        "00:05 last started",
        "00:06 last succeeded (1.0s)",
        "Total: 6.0s (succeeded)",
    ]
    red = history("show", "2", "--timeline").stdout
    assert "right failed (1.0s, exit 1)" in red and "not run: last" in red


def test_junit_xml_parses_with_a_testcase_per_step(history: Cli) -> None:
    path = history.cwd / "report" / "flow.xml"
    path.parent.mkdir()
    result = history("show", "2", "--junit", str(path))
    assert result.returncode == 0, result.stderr
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    suite = ET.parse(path).getroot().find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("skipped")) == ("4", "1", "1")
    cases = {c.get("name"): c for c in suite.iter("testcase")}
    assert list(cases) == ["prep", "left", "right", "last"]
    assert {c.get("classname") for c in cases.values()} == {"flow"}
    assert cases["left"].get("time") == "2.500"
    failure = cases["right"].find("failure")
    assert failure is not None and "right" in (failure.text or "")  # its last log lines
    assert cases["last"].find("skipped") is not None
    bad = history("show", "2", "--junit", str(history.cwd / "missing" / "x.xml"))
    assert bad.returncode == 1 and "cannot write" in bad.stderr and "Traceback" not in bad.stderr


def test_graph_boxes_compact_and_mermaid(history: Cli) -> None:
    history.env["COLUMNS"] = "20"  # the boxes do not fit: one line per step
    compact = history("graph", "flow.yaml").stdout.splitlines()
    assert compact[0].split() == ["L1", "·", "prep"]
    assert compact[-1].split()[:3] == ["L3", "·", "last"] and "← left, right" in compact[-1]
    live = history("graph", "2", "--boxes").stdout  # boxes all the same
    assert "✓ prep" in live and "✗ right" in live and "○ last" in live and "2.5s" in live
    mermaid = history("graph", "2", "--mermaid").stdout.splitlines()
    assert mermaid[0] == "flowchart LR"
    assert '    n0["✓ prep · 1.0s"]' in mermaid and "    n0 --> n1" in mermaid
    assert any(line.startswith("    classDef failed ") for line in mermaid)
    assert "    class n2 failed" in mermaid
    by_name = history("graph", "flow", "--dir", str(history.cwd), "--mermaid").stdout
    assert '["prep"]' in by_name and "classDef" not in by_name
    missing = history("graph", "nope")
    assert missing.returncode == 1 and "Traceback" not in missing.stderr


def test_graph_draws_boxes_without_importing_textual(history: Cli) -> None:
    code = (
        "import sys; from flowtui.cli import main; main.main(['graph', 'flow.yaml']); "
        "assert 'textual' not in sys.modules, 'flowtui graph imported textual'"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=history.cwd,
        env={**history.env, "COLUMNS": "200"}, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "┌" in result.stdout and "│ · prep │" in result.stdout and "─▶" in result.stdout
