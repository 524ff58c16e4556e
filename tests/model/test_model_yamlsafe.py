"""The YAML layer: hostile or broken input gives a clear error with a position, fast."""

from __future__ import annotations

from pathlib import Path

import pytest

from flowtui.model.errors import WorkflowError
from flowtui.model.loader import load_workflow, load_workflow_text
from flowtui.model.yamlsafe import MAX_FILE_BYTES, MAX_NODES, parse_document
from tests.model.model_helpers import line_of, only_problem, problems_of, yaml_text

VALID = "name: demo\nsteps:\n  a: {run: echo hi}\n"


def billion_laughs() -> str:
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    previous = "a"
    for label in "bcdefghi":
        lines.append(f"{label}: &{label} [{', '.join([f'*{previous}'] * 9)}]")
        previous = label
    return "\n".join(lines) + "\nname: x\nsteps: {a: {run: '*i'}}\n"


def test_alias_bomb_is_refused_fast() -> None:
    problem = only_problem(billion_laughs())
    assert f"more than {MAX_NODES:,} values" in problem.message
    assert problem.pos.line == 1


def test_aliases_below_the_limit_are_expanded() -> None:
    text = yaml_text(
        """
        name: demo
        env: &common {A: "1"}
        steps:
          a: {run: x, env: *common}
        """
    )
    workflow = load_workflow_text(text)
    assert workflow.steps["a"].env == {"A": "1"}


def test_merge_key_fills_missing_keys_only() -> None:
    text = yaml_text(
        """
        name: demo
        steps:
          a: &base {run: one, retries: 2, timeout: 5s}
          b:
            <<: *base
            run: two
        """
    )
    b = load_workflow_text(text).steps["b"]
    assert (b.spec["run"], b.retries, b.timeout) == ("two", 2, 5.0)


def test_recursive_alias_is_refused() -> None:
    text = "name: x\nloop: &l [*l]\nsteps: {a: {run: x}}\n"
    problem = only_problem(text)
    assert "recursive alias" in problem.message
    assert problem.pos.line == 2


def test_file_over_the_size_limit_is_refused_before_parsing(tmp_path: Path) -> None:
    path = tmp_path / "huge.yaml"
    # not even valid YAML: the size check must come before the parser sees it
    path.write_bytes(b"name: x\n" + b"[" * (3 * 1024 * 1024))
    with pytest.raises(WorkflowError) as caught:
        load_workflow(path)
    (problem,) = caught.value.problems
    assert "too large" in problem.message
    assert f"{MAX_FILE_BYTES:,}" in problem.message
    assert (problem.pos.file, problem.pos.line) == (str(path), 1)


def test_text_over_the_size_limit_is_refused() -> None:
    problem = only_problem("#" * (MAX_FILE_BYTES + 1))
    assert "too large" in problem.message


def test_python_tag_is_refused_not_run(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = yaml_text(
        f"""
        name: demo
        steps:
          a:
            run: !!python/object/apply:os.system ["touch {marker}"]
        """
    )
    problem = only_problem(text)
    assert "unsupported YAML tag" in problem.message
    assert "python/object/apply:os.system" in problem.message
    assert problem.pos.line == line_of(text, "!!python")
    assert not marker.exists()


@pytest.mark.parametrize("tag", ["!!set", "!Ref", "!!binary", "!!omap"])
def test_other_non_plain_tags_are_refused(tag: str) -> None:
    text = f"name: demo\nsteps:\n  a: {{run: x}}\nextra: {tag} {{}}\n"
    found = problems_of(text)
    assert any("unsupported YAML tag" in p.message and p.pos.line == 4 for p in found)


def test_invalid_utf8_names_the_byte_and_line() -> None:
    data = b"name: demo\nsteps:\n  a: {run: caf\xe9}\n"
    problem = only_problem(data)  # type: ignore[arg-type]
    assert "invalid UTF-8 at byte offset 32" in problem.message
    assert (problem.pos.line, problem.pos.column) == (3, 15)


def test_utf8_bom_is_accepted() -> None:
    workflow = load_workflow_text(b"\xef\xbb\xbf" + VALID.encode())
    assert workflow.name == "demo"


# (text, line, column, words in the message) for the mistakes people make most
SYNTAX_MISTAKES = [
    (  # a key indented between two levels
        "name: demo\nsteps:\n  build:\n    run: make\n   needs: [x]\n",
        5,
        4,
        "does not line up with the keys above it",
    ),
    ("name: demo\nsteps:\n  a: {run: x}\n    b: {run: y}\n", 4, 5, "indented more"),
    (  # a key nested under a key that already has a value
        "name: demo\nsteps:\n  a:\n    run: x\n      shell: bash\n",
        5,
        7,
        "indented more than the key above it expects",
    ),
    (
        "name: demo\nsteps:\n    a: {run: x}\n  b: {run: y}\n",
        4,
        3,
        "does not line up with the keys above it",
    ),
    ("name: demo\nsteps:\n\ta: {run: x}\n", 3, 1, "a tab character"),
    ("name: demo\nsteps:\n  a:\n    run: echo a: b\n", 4, 16, "quote it"),
    ('name: "demo\nsteps:\n  a: {run: x}\n', 1, 7, "unclosed quote"),
    ("name: 'demo\nsteps:\n  a: {run: x}\n", 1, 7, "opened at line 1"),
    ("name: demo\nsteps:\n  a: {run: [unclosed}\n", 3, 12, "the `[` opened at line 3"),
    ("name: demo\nsteps:\n  a: {run: x\n  b: {run: y}\n", 3, 6, "the `{` opened at line 3"),
    ("name:demo\nsteps:\n  a: {run: x}\n", 1, 5, "followed by a space"),
    ("name: demo\nsteps:\n  - a\n  b: c\n", 4, 3, "among `- ` list items"),
    ("name: @demo\nsteps: {}\n", 1, 7, "cannot start with `@`"),
    ('name: "demo" x\nsteps: {}\n', 1, 14, "text after the end of a quoted value"),
    ('name: demo\nsteps:\n  a: {run: "C:\\path"}\n', 3, 15, "`\\p` is not an escape"),
    ("name: demo\nsteps:\n  a: {run: x}\n  oops\n  b: {run: y}\n", 4, 3, "has no `:`"),
    ("name: demo\nsteps:\n  a: {run: [a,,b]}\n", 3, 15, "an empty item"),
    ("name: demo\nsteps:\n  a: {run: x}}\n", 3, 14, "a `}` that closes nothing"),
]


@pytest.mark.parametrize(("text", "line", "column", "words"), SYNTAX_MISTAKES)
def test_common_syntax_mistakes_are_said_plainly(
    text: str, line: int, column: int, words: str
) -> None:
    problem = only_problem(text)
    assert problem.message.startswith("YAML syntax: ")
    assert words in problem.message
    assert (problem.pos.line, problem.pos.column) == (line, column)
    assert "<block" not in str(problem) and "while parsing" not in str(problem)
    # the offending line, with a caret under the column
    shown, caret = problem.excerpt.splitlines()
    assert shown == f"{line} | {text.splitlines()[line - 1].replace(chr(9), ' ')}"
    assert caret.index("^") - caret.index("|") - 2 == column - 1
    assert problem.excerpt.splitlines()[0] in str(problem)


def test_an_unrecognised_syntax_error_keeps_pyyaml_words_and_position() -> None:
    problem = only_problem("name: demo\nsteps: {a: {run: x}}\n? [a\n")
    assert problem.message.startswith("YAML syntax: ")
    assert problem.pos.line >= 3


@pytest.mark.parametrize("text", ["", "\n\n", "# only a comment\n", "---\n"])
def test_empty_file(text: str) -> None:
    problem = only_problem(text)
    assert problem.message == "the file is empty"
    assert problem.pos.line == 1


@pytest.mark.parametrize(
    ("text", "got"), [("- a\n- b\n", "a list"), ("just text\n", "string 'just text'")]
)
def test_top_level_must_be_a_mapping(text: str, got: str) -> None:
    problem = only_problem(text)
    assert problem.message == f"the top level must be a mapping (name:, steps:, ...), got {got}"
    assert problem.pos.line == 1


def test_multiple_documents_are_refused() -> None:
    text = VALID + "---\nname: other\n"
    problem = only_problem(text)
    assert "more than one YAML document" in problem.message
    assert problem.pos.line == line_of(text, "---")


def test_control_character_is_refused_with_position() -> None:
    problem = only_problem("name: demo\nsteps:\n  a: {run: \x07}\n")
    assert "U+0007" in problem.message
    assert (problem.pos.line, problem.pos.column) == (3, 12)


def test_deep_nesting_is_refused_not_a_crash() -> None:
    problem = only_problem("x: " + "[" * 5000 + "]" * 5000 + "\n")
    assert "nested more than" in problem.message


def test_many_plain_values_are_refused() -> None:
    problem = only_problem("x: [" + "1," * (MAX_NODES + 10) + "]\n")
    assert "more than" in problem.message


def test_duplicate_keys_in_any_mapping() -> None:
    text = yaml_text(
        """
        name: demo
        env:
          A: "1"
          B: "2"
          A: "3"
        steps:
          a: {run: x}
        """
    )
    problem = only_problem(text)
    first, second = line_of(text, "A:"), line_of(text, "A:", 2)
    assert problem.message == f"duplicate key `A` (first defined at line {first})"
    assert problem.pos.line == second


def test_positions_of_keys_and_values() -> None:
    document = parse_document("a:\n  b: [x, y]\n", "f.yaml")
    inner = document.value["a"]
    assert (inner.key_pos("b").line, inner.key_pos("b").column) == (2, 3)
    assert inner["b"].positions[1].column == 10
    assert document.problems == []
