"""The inline question's line editing and output above it (flowtui/cli/lineedit.py), on a
text stream standing for the terminal; tests/cli/test_inline_approve.py runs it on a pty."""

from __future__ import annotations

import io

from flowtui.cli.lineedit import CLEAR_LINE, EOF, AbovePrompt, PromptLine


def _line() -> tuple[PromptLine, io.StringIO]:
    screen = io.StringIO()
    return PromptLine(screen, fd=-1), screen  # no terminal: stty's usual keys


def test_keys_edit_the_typed_line() -> None:
    line, screen = _line()
    line.show("> ")
    assert line.feed("deploy now\x17") == []  # Ctrl-W: the last word
    assert line.typed == "deploy "
    assert line.feed("\x1b[Dx\x1bOA") == []  # arrow keys dropped, "x" kept
    assert line.feed("\x7f\x7f\x7fyes") == [] and line.typed == "deployes"
    assert line.feed("\x15ok\r") == ["ok"]  # Ctrl-U: all of it; Enter ends the line
    assert line.prompt is None and line.typed == ""
    # each edit drew the line again; typing and Enter are echoed as they come
    assert screen.getvalue() == (
        f"> deploy now{CLEAR_LINE}> deploy x{CLEAR_LINE}> deploy {CLEAR_LINE}> deploy"
        f"{CLEAR_LINE}> deployes{CLEAR_LINE}> ok\n"
    )
    assert line.feed("\x04") == [EOF]  # Ctrl-D on an empty line: end of input
    assert line.feed("a\x04") == []  # not on a line with text


def test_output_goes_above_the_question_whole_lines_only() -> None:
    line, screen = _line()
    out = AbovePrompt(screen, line)
    out.write("before\n")
    line.show("> ")
    line.feed("ye")
    out.write("half ")  # no newline yet: waits, the question stays as it is
    assert screen.getvalue() == "before\n> ye"
    out.write("and rest\nnext")
    assert screen.getvalue() == f"before\n> ye{CLEAR_LINE}half and rest\n> ye"
    line.feed("s\n")
    out.write(" line\n")  # no question any more: printed as it comes
    assert screen.getvalue().endswith("> yes\nnext line\n")
