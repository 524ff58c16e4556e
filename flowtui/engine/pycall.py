"""Run one `package.module:function` for a `python` step, in a process of its own.

`python -m flowtui.engine.pycall REQUEST.json` is started by the python step executor in
its own process group, like a script, so a timeout, a cancel or a crash of the user's
code (even a segfault or `os._exit`) is handled the same way and cannot harm the runner.
The request names the callable and carries the step's context; the answer is written to
the result file named in the request, never to stdout, which belongs to the user's code.
"""

from __future__ import annotations

import asyncio
import importlib
import inspect
import json
import logging
import os
import sys
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass(slots=True)
class PyContext:
    """What a python step's callable receives as its only argument."""

    step: str
    run_id: int
    attempt: int
    params: dict[str, str]
    args: dict[str, Any]  # the step's `args:` mapping, as plain data
    env: dict[str, str]  # the step's own environment (os.environ holds it too)
    workspace: Path
    step_dir: Path
    outputs: dict[str, dict[str, str]]  # outputs of earlier steps, by step name
    log: logging.Logger = field(repr=False, default_factory=lambda: logging.getLogger("flowtui"))


class CallError(Exception):
    """The callable could not be found or returned something unusable."""


def stringify(value: Any) -> str:
    """Output values are text: strings as they are, everything else as JSON (or str)."""
    if isinstance(value, str):
        return value
    if isinstance(value, (dict, list, tuple, bool)) or value is None:
        try:
            return json.dumps(value)
        except (TypeError, ValueError):
            return str(value)
    return str(value)


def resolve(call: str) -> Any:
    module_name, _, attr_path = call.partition(":")
    module = importlib.import_module(module_name)
    target: Any = module
    for part in attr_path.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise CallError(f"{module_name} has no attribute {attr_path!r}") from None
    if not callable(target):
        raise CallError(f"{call} is not callable")
    return target


def invoke(func: Any, ctx: PyContext) -> dict[str, str]:
    result = func(ctx)
    if inspect.isawaitable(result):
        result = asyncio.run(_await(result))
    if result is None:
        return {}
    if not isinstance(result, Mapping):
        raise CallError(f"the function must return a dict of outputs, got {type(result).__name__}")
    return {str(k): stringify(v) for k, v in result.items()}


async def _await(awaitable: Any) -> Any:
    return await awaitable


def _logger(step: str) -> logging.Logger:
    logger = logging.getLogger(f"flowtui.step.{step}")
    handler = logging.StreamHandler(sys.stdout)  # stdout lines become the step's log
    handler.setFormatter(logging.Formatter("%(levelname)s %(message)s"))
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    return logger


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m flowtui.engine.pycall REQUEST.json", file=sys.stderr)
        return 64
    request = json.loads(Path(argv[0]).read_text(encoding="utf-8"))
    result_file = Path(request["result_file"])
    for folder in reversed(request.get("sys_path", [])):
        sys.path.insert(0, folder)
    ctx = PyContext(
        step=request["step"],
        run_id=int(request["run_id"]),
        attempt=int(request["attempt"]),
        params=dict(request["params"]),
        args=dict(request.get("args") or {}),
        env=dict(request["env"]),
        workspace=Path(request["workspace"]),
        step_dir=Path(request["step_dir"]),
        outputs={k: dict(v) for k, v in request["outputs"].items()},
        log=_logger(request["step"]),
    )
    try:
        outputs = invoke(resolve(request["call"]), ctx)
    except SystemExit as exc:
        if exc.code not in (0, None):  # sys.exit(0) from the callable is a plain success
            return _report(result_file, exc)
        outputs = {}
    except Exception as exc:
        return _report(result_file, exc)
    sys.stdout.flush()
    _write(result_file, {"ok": True, "outputs": outputs})
    return 0


def _report(result_file: Path, exc: BaseException) -> int:
    """The traceback goes to the log; its last line becomes the step's message."""
    sys.stdout.flush()
    traceback.print_exception(exc)
    lines = traceback.format_exception_only(type(exc), exc)
    message = lines[-1].strip() if lines else type(exc).__name__
    _write(result_file, {"ok": False, "error": message})
    return 1


def _write(path: Path, answer: dict[str, Any]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(answer), encoding="utf-8")
    os.replace(tmp, path)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
