"""The editing API on a file with comments and odd formatting: each operation changes
exactly the lines it should (the rest stays byte for byte), refused ones change nothing."""

from __future__ import annotations

import difflib
import os
import stat
from pathlib import Path

import pytest

from flowtui.model import edit as E
from flowtui.model.editfile import FileChanged, OpenedFile, create_file
from flowtui.model.loader import load_workflow
from flowtui.model.templates import TEMPLATES, render
from flowtui.model.yamlrt import RoundTrip, guess_indent

ODD = """\
# Deploy pipeline -- keep this header
name: odd-deploy   # trailing comment
description: 'single quoted'
env: {VERSION: 1.10, FLAG: "yes"}

steps:
    # the plan comes first
    plan:
        run: |
            echo plan
              indented: text
        timeout: 10m    # ten minutes

    approve: {type: approval, requires: [plan], message: "ok?"}
    apply-us:
        requires:
          - approve
          - "plan"
        when: steps.plan.outputs.changes == '1' and steps['approve'].status == 'succeeded'
        run: ./apply.sh us "$STEPS_PLAN_ID"
    gate:
        type: condition
        if: steps.plan.status == 'succeeded'
        then: apply-eu
    apply-eu: {run: ./apply.sh eu}
"""


def diff(old: str, new: str) -> tuple[list[str], list[str]]:
    """(lines removed, lines added): everything else is byte-identical."""
    removed: list[str] = []
    added: list[str] = []
    for line in difflib.unified_diff(old.splitlines(True), new.splitlines(True), n=0):
        if line.startswith("-") and not line.startswith("---"):
            removed.append(line[1:].rstrip("\n"))
        elif line.startswith("+") and not line.startswith("+++"):
            added.append(line[1:].rstrip("\n"))
    return removed, added


def test_the_odd_file_round_trips_byte_for_byte() -> None:
    assert guess_indent(ODD) == (4, 2)
    tree = RoundTrip(ODD)
    assert tree.faithful
    assert tree.dump() == ODD


def test_add_step_after_another_with_keys_and_requires() -> None:
    result = E.apply(
        ODD,
        E.AddStep(
            "notify",
            "notify",
            {"url": "http://127.0.0.1:9/x", "message": "yes"},
            requires=["apply-us"],
            after="apply-us",
        ),
    )
    assert diff(ODD, result.text) == (
        [],
        [
            "    notify:",
            "        type: notify",
            "        requires: [apply-us]",
            "        url: http://127.0.0.1:9/x",
            '        message: "yes"',  # YAML 1.1 would read a plain yes as true
        ],
    )
    assert list(result.workflow.steps)[:4] == ["plan", "approve", "apply-us", "notify"]
    assert result.workflow.steps["notify"].spec["message"] == "yes"


def test_set_and_unset_keep_quoting_and_the_rest() -> None:
    result = E.apply(
        ODD, E.SetKeys("approve", {"message": "sure?", "timeout": "1h"}, unset=["requires"])
    )
    assert diff(ODD, result.text) == (
        ['    approve: {type: approval, requires: [plan], message: "ok?"}'],
        ['    approve: {type: approval, message: "sure?", timeout: 1h}'],
    )


def test_rename_follows_requires_then_and_expressions() -> None:
    result = E.apply(ODD, E.Rename("plan", "make_plan"))
    removed, added = diff(ODD, result.text)
    assert added == [
        "    make_plan:",
        '    approve: {type: approval, requires: [make_plan], message: "ok?"}',
        '          - "make_plan"',
        "        when: steps.make_plan.outputs.changes == '1' and steps['approve'].status"
        " == 'succeeded'",
        "        if: steps.make_plan.status == 'succeeded'",
    ]
    assert len(removed) == len(added)
    assert any("$STEPS_PLAN_" in note for note in result.notes)  # inside a script: said
    assert result.workflow.steps["apply-us"].requires == ("approve", "make_plan")


def test_rename_to_a_name_with_a_dash_uses_the_subscript_form() -> None:
    assert (
        E.rename_in_expression("steps.plan.status == 'x' or steps[\"plan\"].a", "plan", "the-plan")
        == "steps['the-plan'].status == 'x' or steps[\"the-plan\"].a"
    )
    assert E.rename_in_expression("steps.planner.status", "plan", "x") == "steps.planner.status"


def test_remove_is_refused_while_required_and_detaches_when_asked() -> None:
    with pytest.raises(E.EditRefused, match=r"needed by `approve` \(requires\), `apply-us`"):
        E.apply(ODD, E.RemoveStep("plan"))
    result = E.apply(ODD, E.RemoveStep("apply-eu", detach=True))
    assert diff(ODD, result.text) == (
        ["        then: apply-eu", "    apply-eu: {run: ./apply.sh eu}"],
        [],
    )


def test_connect_and_disconnect() -> None:
    connected = E.apply(ODD, E.Connect("apply-us", "apply-eu"))
    assert diff(ODD, connected.text) == (
        ["    apply-eu: {run: ./apply.sh eu}"],
        ["    apply-eu: {run: ./apply.sh eu, requires: [apply-us]}"],
    )
    back = E.apply(connected.text, E.Disconnect("apply-us", "apply-eu"))
    assert back.text == ODD  # connected and disconnected again: the very same bytes
    dropped = E.apply(ODD, E.Disconnect("plan", "apply-us"))
    assert diff(ODD, dropped.text) == (['          - "plan"'], [])


def test_duplicate_and_move() -> None:
    copied = E.apply(ODD, E.Duplicate("apply-eu", "apply-ap"))
    assert diff(ODD, copied.text) == ([], ["    apply-ap: {run: ./apply.sh eu}"])
    moved = E.apply(ODD, E.MoveStep("apply-eu", before="gate"))
    assert list(moved.workflow.steps) == ["plan", "approve", "apply-us", "apply-eu", "gate"]
    assert moved.text.startswith("# Deploy pipeline -- keep this header\n")


@pytest.mark.parametrize(
    ("operation", "reason"),
    [
        (E.Connect("apply-us", "plan"), "cycle: plan"),
        (E.Connect("nope", "plan"), "no step `nope`"),
        (E.AddStep("plan", "script", {"run": "x"}), "already exists"),
        (E.AddStep("new", "http", {}), "missing `url`"),
        (E.AddStep("new", "warp", {}), "unknown step type `warp`"),
        (E.AddStep("bad name", "script", {"run": "x"}), "not a valid step name"),
        (E.SetKeys("plan", {"retries": "two"}), "`retries` must be an integer"),
        (E.SetKeys("plan", {"url": "http://x"}), "`url` is not valid in step `plan`"),
        (E.Rename("plan", "approve"), "already exists"),
        (E.Disconnect("apply-eu", "plan"), "does not require"),
    ],
)
def test_refused_operations_leave_the_file_byte_identical(
    tmp_path: Path, operation: E.Operation, reason: str
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(ODD)
    before = path.read_bytes()
    opened = OpenedFile.open(path)
    with pytest.raises(E.EditRefused, match=reason):
        opened.save(E.apply(opened.text, operation, file=str(path)).text)
    assert path.read_bytes() == before


def test_save_is_atomic_keeps_the_mode_and_refuses_a_file_changed_meanwhile(
    tmp_path: Path,
) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(ODD)
    os.chmod(path, 0o640)
    opened = OpenedFile.open(path)
    saved = opened.save(E.apply(opened.text, E.Duplicate("plan", "plan2")).text)
    assert stat.S_IMODE(path.stat().st_mode) == 0o640
    assert "plan2" in load_workflow(path).steps
    assert [p.name for p in tmp_path.iterdir()] == ["odd.yaml"]  # no temporary left
    path.write_text(ODD + "# someone else\n")
    with pytest.raises(FileChanged, match="changed on disk"):
        saved.save(saved.text)
    assert path.read_text().endswith("# someone else\n")
    saved.save(saved.text, force=True)
    assert path.read_text() == saved.text


def test_templates_load_and_new_files_are_private(tmp_path: Path) -> None:
    for template in TEMPLATES:
        E.check(render(template, "fresh"))
    created = create_file(tmp_path / "fresh.yaml", render("one step", "fresh"))
    assert stat.S_IMODE(created.path.stat().st_mode) == 0o600
    with pytest.raises(E.EditRefused, match="already exists"):
        create_file(tmp_path / "fresh.yaml", "x")


def test_rename_follows_matrix_copies_and_condition_branches() -> None:
    text = """\
name: m
steps:
  build:
    run: make
    matrix: {os: [linux, mac]}
  gate: {type: condition, if: "true", then: [ship], else: "skip"}
  ship: {requires: ["build[os=linux]"], run: ./ship.sh}
  skip: {run: "true"}
"""
    result = E.apply(text, E.Rename("build", "compile"))
    assert '  ship: {requires: ["compile[os=linux]"], run: ./ship.sh}\n' in result.text
    assert result.workflow.steps["ship"].requires == ("compile[os=linux]", "gate")
    renamed = E.apply(text, E.Rename("skip", "pass"))
    assert '  gate: {type: condition, if: "true", then: [ship], else: "pass"}\n' in renamed.text


@pytest.mark.parametrize("new", ["make-it", "mk", "build"])
def test_a_rename_keeps_the_spaces_before_an_end_of_line_comment(new: str) -> None:
    text = (
        "name: demo\n"
        "steps:\n"
        "  build: {run: make}   # flow step\n"
        "  test:    # block step\n"
        "    run: x\n"
        "  lint: {run: y, requires: [build]}  # needs build\n"
    )
    other = "test" if new != "build" else "lint2"
    result = E.apply(text, E.Rename("build", new) if new != "build" else E.Rename("test", other))
    if new != "build":
        assert f"  {new}: {{run: make}}   # flow step\n" in result.text
        assert f"  lint: {{run: y, requires: [{new}]}}  # needs build\n" in result.text
    else:
        assert "  lint2:    # block step\n" in result.text
    assert len(result.text.splitlines()) == len(text.splitlines())


def test_changing_a_type_needs_the_old_keys_unset_in_the_same_edit() -> None:
    with pytest.raises(E.EditRefused, match="keys a `http` step does not take: `run`"):
        E.apply(ODD, E.SetKeys("apply-eu", {"type": "http", "url": "http://x"}))
    result = E.apply(
        ODD, E.SetKeys("apply-eu", {"type": "http", "url": "http://127.0.0.1:9/"}, ["run"])
    )
    assert result.workflow.steps["apply-eu"].type == "http"


def test_a_circleci_config_is_not_edited() -> None:
    with pytest.raises(E.EditRefused, match="CircleCI"):
        E.apply("version: 2.1\n", E.RemoveStep("x"), file=".circleci/config.yml")


def test_comment_lines_between_steps_stay_with_the_step_they_are_about() -> None:
    text = ODD.replace("    gate:", "    # the gate decides\n    gate:")
    removed = E.apply(text, E.RemoveStep("apply-us", detach=True))
    assert "    apply-eu: {run: ./apply.sh eu}" in removed.text
    assert "    # the gate decides\n    gate:\n" in removed.text  # not lost with apply-us
    gone = E.apply(text, E.RemoveStep("gate", detach=True))
    assert "# the gate decides" not in gone.text  # it was about gate
    moved = E.apply(text, E.MoveStep("gate", before="approve"))
    assert "    # the gate decides\n    gate:\n" in moved.text
    assert '        run: ./apply.sh us "$STEPS_PLAN_ID"\n    apply-eu:' in moved.text
    copied = E.apply(text, E.Duplicate("apply-us", "x"))
    assert copied.text.count("# the gate decides") == 1
    assert "    # the gate decides\n    gate:\n" in copied.text


def test_a_file_that_cannot_be_read_back_is_refused_not_raised(tmp_path: Path) -> None:
    path = tmp_path / "odd.yaml"
    path.write_text(ODD)
    opened = OpenedFile.open(path)
    path.unlink()
    path.mkdir()  # what is there now cannot be read as a file (IsADirectoryError)
    with pytest.raises(E.EditRefused, match="cannot read the file"):
        opened.save(opened.text, force=False)
    assert path.is_dir()
