"""`flowtui run` in a terminal: offer to approve a held step right there.

A bus listener notes each new hold of the run; one task asks about them in turn, reading
the terminal's keys without blocking the event loop (`add_reader` on stdin), so the run's
other steps and its output go on while the question waits: that output is printed above
the question, which is then drawn again with what was typed (flowtui/cli/lineedit.py).
The decision goes through the control surface as `flowtui approve` does, so the same
checks (approvers, inputs, self-approval) apply and the same words come back.
Enter alone leaves the step held for someone else (`flowtui approve`, the dashboard).
"""

from __future__ import annotations

import asyncio
import codecs
import contextlib
import os
import sys
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, TextIO

from flowtui.cli.visible import terminal_of, visible
from flowtui.engine.events import Event, StepStatusChanged
from flowtui.engine.states import StepStatus
from flowtui.model.approval import ApprovalInput, check_answer
from flowtui.store.runstore import RunStore

if TYPE_CHECKING:  # imported once a terminal is asked (not by `flowtui run | cat`, #18)
    from flowtui.cli.lineedit import PromptLine

WITHDRAWN = "\0withdrawn"  # in the answers' queue: the step was decided elsewhere
ENDED = "\0ended"  # in the answers' queue: end of input (Ctrl-D), nobody will answer


class _Withdrawn(Exception):
    pass


class _GaveUp(Exception):
    """Input ended (Ctrl-D): the step stays held for someone else."""


def can_prompt() -> bool:
    return sys.stdin.isatty() and sys.stdout.isatty()


class InlineApprover:
    """Asks on the terminal whether to approve each hold of run `run_id`, as `user`."""

    def __init__(self, store: RunStore, user: str, out: TextIO | None = None) -> None:
        self.store = store
        self.user = user
        self.out = out or sys.stdout
        self.run_id: int | None = None  # set once the run exists
        self._holds: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        self._lines: asyncio.Queue[str] = asyncio.Queue()
        self._asked: set[tuple[int, str]] = set()
        self._decode = codecs.getincrementaldecoder("utf-8")(errors="replace")
        self._asking: tuple[int, str] | None = None  # the hold a question waits on
        self._ended = False  # Ctrl-D was typed: every later question gives up at once
        self._task: asyncio.Task[None] | None = None
        from flowtui.cli.lineedit import PromptLine

        self._fd = sys.stdin.fileno()
        # the question and the typing
        self.line: PromptLine = PromptLine(terminal_of(self.out), self._fd)
        # what wraps each question (`flowtui run` takes its live footer off the screen)
        self.around: Callable[[], contextlib.AbstractContextManager[None]] = contextlib.nullcontext

    def follow(self, run_id: int) -> None:
        self.run_id = run_id

    def above(self, stream: TextIO) -> TextIO:
        """`stream`, printing above the question while one is shown (the run's output)."""
        from flowtui.cli.lineedit import AbovePrompt

        return AbovePrompt(stream, self.line)  # type: ignore[return-value]  # a TextIO in use

    @contextlib.contextmanager
    def stderr_above(self) -> Iterator[None]:
        """While inside, what is printed to stderr (`cancelling run`, warnings) goes above
        the question too."""
        saved = sys.stderr
        sys.stderr = self.above(saved)
        try:
            yield
        finally:
            sys.stderr = saved

    def start(self) -> None:
        loop = asyncio.get_running_loop()
        self.line.start()
        loop.add_reader(self._fd, self._readable)
        self._task = loop.create_task(self._ask_in_turn(), name="flowtui-inline-approve")

    async def stop(self) -> None:
        with contextlib.suppress(ValueError, OSError):
            asyncio.get_running_loop().remove_reader(self._fd)
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self.line.stop()  # the terminal as it was

    def __call__(self, event: Event) -> None:
        if not isinstance(event, StepStatusChanged) or event.run_id != self.run_id:
            return
        hold = (event.run_id, event.step)
        if event.status == StepStatus.HELD and hold not in self._asked:
            self._asked.add(hold)
            self._holds.put_nowait(hold)
        elif event.status != StepStatus.HELD and hold == self._asking:
            # approved, rejected or cancelled from elsewhere: the question is moot.  Taken
            # off the screen now, before the listeners after this one print the event
            # (`flowtui run` adds this one before its event lines)
            self._withdraw(event.step)
            self._lines.put_nowait(WITHDRAWN)

    def _withdraw(self, step: str) -> None:
        self.out.flush()
        self.line.withdraw()  # the question and what was typed for it cleared
        self._say(f"{step} was decided elsewhere")

    def _readable(self) -> None:
        from flowtui.cli.lineedit import EOF

        try:
            data = os.read(self._fd, 4096)
        except OSError:
            data = b""
        typed = self.line.feed(self._decode.decode(data)) if data else [EOF]
        for line in typed:
            if line is EOF:  # end of input (Ctrl-D): nobody will answer
                asyncio.get_running_loop().remove_reader(self._fd)
                self._lines.put_nowait(ENDED)
                return
            self._lines.put_nowait(line)

    async def _ask(self, question: str, hold: tuple[int, str]) -> str:
        if self._ended:
            raise _GaveUp
        self.out.flush()
        self.line.show(visible(question))  # its words come from the workflow file
        self._asking = hold
        try:
            line = await self._lines.get()
        finally:
            self._asking = None
        if line == WITHDRAWN:
            raise _Withdrawn
        if line == ENDED:
            self._ended = True
            self.line.withdraw()
            raise _GaveUp
        return line.strip()

    async def _ask_in_turn(self) -> None:
        from flowtui import control  # only when asking: `flowtui run` starts without it
        from flowtui.cli.hints import command

        while True:
            run_id, step = await self._holds.get()
            with self.around():
                try:
                    await self._offer(run_id, step)
                except _Withdrawn:
                    pass  # said when it was withdrawn (`_withdraw`)
                except _GaveUp:
                    self._say(f"{step} stays held: {command(f'approve {run_id} {step}')}")
                except control.ControlError as exc:
                    self._say(f"not decided: {exc}")

    def _say(self, text: str) -> None:
        self.out.write(f"{text}\n")
        self.out.flush()

    async def _offer(self, run_id: int, step: str) -> None:
        from flowtui import control  # only when asking: `flowtui run` starts without it
        from flowtui.cli.hints import command

        await self.store.flush_writes()  # the hold is in the history before we read it
        # may this user approve it at all (an approver, not its starter when self-approval
        # is off, not one who approved it already)? Its inputs are asked next.
        try:
            held = await control.check_decision(self.store, run_id, step, self.user)
        except control.ApprovalNotTaken as exc:
            self._say(f"{exc}; approve elsewhere: {command(f'approve {run_id} {step}')}")
            return
        gate = await control.describe_gate(self.store, held)
        while True:
            answer = await self._ask(
                f"approve {step} now as {self.user}? [y]es, [r]eject, Enter: leave it held > ",
                (run_id, step),
            )
            if answer.lower() not in ("y", "yes"):
                break
            given = {} if gate.approved_by else await self._inputs(gate.inputs, (run_id, step))
            try:
                approval = await control.check_decision(
                    self.store, run_id, step, self.user, approve=True, inputs=given
                )
            except control.ApprovalNotTaken as exc:
                self._say(f"not approved: {exc}")
                continue  # the step stays held: ask again
            await control.decide(self.store, approval, approve=True)
            self._say(f"approving {step} as {self.user}")
            return
        if answer.lower() in ("r", "reject"):
            comment = await self._ask("reason (optional) > ", (run_id, step))
            await control.decide(self.store, held, approve=False, comment=comment)
            self._say(f"rejecting {step} as {self.user}")
        else:
            self._say(f"{step} stays held: {command(f'approve {run_id} {step}')}")

    async def _inputs(
        self, fields: tuple[ApprovalInput, ...], hold: tuple[int, str]
    ) -> dict[str, str]:
        """Each field asked in turn and judged as it is answered (`check_answer`, as the
        dashboard's dialog and `flowtui approve --input` judge it): an answer that cannot be
        taken is said, and the same field asked again; Ctrl-D leaves the step held."""
        given: dict[str, str] = {}
        for field in fields:
            hint = f" [{field.default}]" if field.default is not None else ""
            about = f" — {field.description}" if field.description else ""
            while True:
                value = await self._ask(f"  {field.describe()}{about}{hint} > ", hold)
                try:
                    check_answer(field, value)
                except ValueError as exc:
                    self._say(f"  {exc}: answer again (Ctrl-D: leave {hold[1]} held)")
                    continue
                if value:
                    given[field.name] = value
                break
        return given
