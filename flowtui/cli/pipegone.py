"""A run's console output whose reader left (`flowtui run deploy | head -3`).

Writing to a closed pipe raises BrokenPipeError inside the event listener that printed;
the run is not the console's to stop: the printing stops (stdout goes to /dev/null, so the
summary too goes nowhere), and the run goes on and is recorded to its end, its exit code as
usual.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowtui.engine.events import Event


def quiet_when_gone(listener: Callable[[Event], None]) -> Callable[[Event], None]:
    """`listener`, silenced for good the first time its output pipe is found closed."""
    gone = False

    def listen(event: Event) -> None:
        nonlocal gone
        if gone:
            return
        try:
            listener(event)
        except BrokenPipeError:
            gone = True
            stdout_to_devnull()

    return listen


def stdout_to_devnull() -> None:
    """What is printed from now on goes nowhere (its reader left): no further write, nor
    the flush at exit, raises BrokenPipeError."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


__all__ = ["quiet_when_gone", "stdout_to_devnull"]
