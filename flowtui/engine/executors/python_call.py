"""The "python" step: call `package.module:function` with a context, in a subprocess.

Why a subprocess rather than an `await` in the runner's own process: the user's code may
block, leak threads, change the working folder or crash the interpreter.  Run as
`python -m flowtui.engine.pycall` in its own process group it gets exactly what a script
gets — timeouts, cancel (SIGINT, SIGTERM, SIGKILL), crash isolation and a live log — for
the price of one interpreter start (~50 ms).
"""

from __future__ import annotations

import json
import sys
from typing import ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.toolrun import (
    LastLine,
    exit_message,
    failed,
    run_tool,
    step_environment,
    succeeded,
    workflow_dir,
)
from flowtui.engine.private import make_private_dir, write_private

REQUEST_FILE = "pycall.json"
RESULT_FILE = "pycall-result.json"


class PythonCallExecutor:
    type_name: ClassVar[str] = "python"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = ctx.step.spec
        call = str(spec.get("call") or "")
        make_private_dir(ctx.step_dir)
        request_file = ctx.step_dir / REQUEST_FILE
        result_file = ctx.step_dir / RESULT_FILE
        result_file.unlink(missing_ok=True)
        folder = workflow_dir(ctx)
        request = {
            "call": call,
            "sys_path": [str(folder)],
            "step": ctx.step.name,
            "run_id": ctx.run_id,
            "attempt": ctx.attempt,
            "params": dict(ctx.params),
            "args": spec.get("args") or {},
            "env": dict(ctx.env),
            "workspace": str(ctx.workspace),
            "step_dir": str(ctx.step_dir),
            "outputs": {name: dict(values) for name, values in ctx.outputs.items()},
            "result_file": str(result_file),
        }
        write_private(request_file, json.dumps(request))

        lines = LastLine(ctx)
        argv = [sys.executable, "-m", "flowtui.engine.pycall", str(request_file)]
        try:
            code = await run_tool(ctx, argv, env=step_environment(ctx), cwd=folder, on_line=lines)
        except OSError as exc:
            request_file.unlink(missing_ok=True)
            return failed(f"cannot start python: {exc.strerror or exc}")

        try:
            answer = json.loads(result_file.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            answer = None
        finally:
            # the request holds the step's environment (its secrets), the answer its outputs
            request_file.unlink(missing_ok=True)
            result_file.unlink(missing_ok=True)
        if answer is None:
            # no answer: the interpreter died before finishing (os._exit, a signal, a crash)
            return failed(f"{call} did not finish ({exit_message(code)})", exit_code=code)
        if not answer.get("ok"):
            return failed(str(answer.get("error") or "failed"), exit_code=code)
        outputs = {str(k): str(v) for k, v in (answer.get("outputs") or {}).items()}
        message = outputs.get("summary") or lines.stdout.strip() or f"{call} returned"
        return succeeded(message, outputs, exit_code=code)


__all__ = ["PythonCallExecutor"]
