"""The "terraform" and "tofu" steps: plan, apply a saved plan, or destroy.

Every command is an argv list and reads Terraform's machine-readable UI (`-json`: one JSON
object per line with `@level`, `@message`, `type`, ...).  `vars` are written to a
`.tfvars.json` file in the step folder and passed with `-var-file`, never spliced.
`plan` saves its plan under the run's workspace and records the file's path and sha256
in its outputs; `apply` with `plan: <step>` applies exactly that file and refuses one
whose hash no longer matches.  The workspace is chosen with TF_WORKSPACE, so parallel
steps on one folder never fight over `terraform workspace select`.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.toolrun import (
    exit_message,
    failed,
    find_program,
    run_tool,
    step_environment,
    succeeded,
    under_workflow,
)
from flowtui.engine.workspace import file_safe

VARS_FILE = "flowtui.tfvars.json"  # must end in .tfvars.json for Terraform to read JSON
PLAN_FOLDER = "terraform"


@dataclass
class UiStream:
    """What a `-json` UI stream said: its change summary, errors and outputs."""

    changes: dict[str, int] | None = None
    operation: str = ""
    errors: list[str] = field(default_factory=list)
    outputs: dict[str, Any] = field(default_factory=dict)

    def feed(self, line: str) -> tuple[str, list[str]] | None:
        """Take one line; return (stream, log lines) for it, or None if it is not UI JSON."""
        try:
            msg = json.loads(line)
        except ValueError:
            return None
        if not isinstance(msg, dict) or "@message" not in msg:
            return None
        kind = msg.get("type")
        text = [str(msg["@message"])]
        if kind == "change_summary":
            changes = msg.get("changes") or {}
            self.changes = {k: int(v) for k, v in changes.items() if isinstance(v, int)}
            self.operation = str(changes.get("operation") or "")
        elif kind == "outputs":
            self.outputs = dict(msg.get("outputs") or {})
        elif kind == "diagnostic":
            diag = msg.get("diagnostic") or {}
            where = _where(diag)
            if diag.get("detail"):
                text.append("  " + str(diag["detail"]))
            if where:
                text.append(f"  on {where}")
            if diag.get("severity") == "error":
                summary = str(diag.get("summary") or msg["@message"])
                self.errors.append(f"{summary} ({where})" if where else summary)
        stream = "stderr" if msg.get("@level") == "error" else "stdout"
        return stream, text


def _where(diag: Mapping[str, Any]) -> str:
    rng = diag.get("range") or {}
    if not rng.get("filename"):
        return ""
    line = (rng.get("start") or {}).get("line")
    return f"{rng['filename']}:{line}" if line else str(rng["filename"])


def plan_summary(changes: Mapping[str, int]) -> str:
    return (
        f"{changes.get('add', 0)} to add, {changes.get('change', 0)} to change, "
        f"{changes.get('remove', 0)} to destroy"
    )


def apply_summary(changes: Mapping[str, int], operation: str) -> str:
    if operation == "destroy":
        return f"{changes.get('remove', 0)} destroyed"
    return (
        f"{changes.get('add', 0)} added, {changes.get('change', 0)} changed, "
        f"{changes.get('remove', 0)} destroyed"
    )


def count_plan_actions(plan: Mapping[str, Any]) -> tuple[dict[str, int], list[str]]:
    """Counts and `+ address` lines from `show -json PLANFILE` (its resource_changes)."""
    counts = {"add": 0, "change": 0, "remove": 0}
    lines = []
    symbols = {"create": "+", "update": "~", "delete": "-", "read": "<="}
    for rc in plan.get("resource_changes") or []:
        actions = list((rc.get("change") or {}).get("actions") or [])
        if actions in (["no-op"], ["read"]):
            continue
        if "create" in actions:
            counts["add"] += 1
        if "delete" in actions:
            counts["remove"] += 1
        if actions == ["update"]:
            counts["change"] += 1
        shown = "-/+" if {"create", "delete"} <= set(actions) else symbols.get(actions[0], "?")
        lines.append(f"  {shown} {rc.get('address')} ({', '.join(actions)})")
    return counts, lines


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _output_text(value: Any) -> str:
    return value if isinstance(value, str) else json.dumps(value)


class TerraformExecutor:
    type_name: ClassVar[str] = "terraform"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = ctx.step.spec
        binary = str(spec.get("binary") or self.type_name)
        env = step_environment(ctx, {"TF_IN_AUTOMATION": "1", "TF_INPUT": "0"})
        if spec.get("workspace"):
            env["TF_WORKSPACE"] = str(spec["workspace"])
        program = find_program(binary, env)
        if program is None:
            return failed(f"{binary} not found on PATH (install it or set binary:)")
        folder = under_workflow(ctx, spec.get("dir"))
        if not folder.is_dir():
            return failed(f"terraform folder not found: {folder}")
        ctx.step_dir.mkdir(parents=True, exist_ok=True)
        run = _Commands(ctx, program, env, folder)

        if spec.get("init", True):
            code = await run.plain(["init", "-input=false", "-no-color"])
            if code != 0:
                return failed(f"{binary} init failed ({exit_message(code)})", exit_code=code)

        var_args: list[str] = []
        if spec.get("vars"):
            var_file = ctx.step_dir / VARS_FILE
            var_file.write_text(json.dumps(spec["vars"]), encoding="utf-8")
            var_args = [f"-var-file={var_file}"]

        action = str(spec.get("action") or "plan")
        if action == "plan":
            return await self._plan(ctx, run, var_args)
        if spec.get("plan"):
            return await self._apply_saved(ctx, run, str(spec["plan"]))
        argv = ["apply", "-json", "-input=false", "-auto-approve", *var_args]
        if action == "destroy":
            argv.insert(1, "-destroy")
        return await self._apply(run, argv)

    async def _plan(self, ctx: StepContext, run: _Commands, var_args: list[str]) -> StepResult:
        plan_path = ctx.workspace / PLAN_FOLDER / f"{file_safe(ctx.step.name)}.tfplan"
        plan_path.parent.mkdir(parents=True, exist_ok=True)
        plan_path.unlink(missing_ok=True)
        argv = ["plan", "-json", "-input=false", "-detailed-exitcode", f"-out={plan_path}"]
        code, ui = await run.ui([*argv, *var_args])
        if code not in (0, 2) or not plan_path.is_file():
            return _ui_failure("plan", ui, code)

        shown, show_code = await run.capture(["show", "-json", str(plan_path)])
        counts, lines = count_plan_actions(shown) if shown else ({}, [])
        for line in lines:
            ctx.log("stdout", line)
        if ui.changes is None and show_code == 0:
            ui.changes = counts
        changes = ui.changes or {}
        has_changes = code == 2
        summary = plan_summary(changes) if has_changes else "no changes"
        outputs = {
            "plan_path": str(plan_path),
            "plan_sha256": sha256_file(plan_path),
            "add": str(changes.get("add", 0)),
            "change": str(changes.get("change", 0)),
            "destroy": str(changes.get("remove", 0)),
            "has_changes": "true" if has_changes else "false",
            "summary": summary,
        }
        return succeeded(summary, outputs, exit_code=code)

    async def _apply_saved(self, ctx: StepContext, run: _Commands, plan_step: str) -> StepResult:
        recorded = _plan_outputs(ctx, plan_step)
        if recorded is None:
            return failed(
                f"no saved plan from step `{plan_step}`; it must be a `plan` step this step "
                "requires"
            )
        plan_path = Path(recorded["plan_path"])
        if not plan_path.is_file():
            return failed(f"refusing to apply: the plan file of `{plan_step}` is gone")
        actual = sha256_file(plan_path)
        if actual != recorded["plan_sha256"]:
            return failed(
                f"refusing to apply: {plan_path.name} changed since `{plan_step}` saved it "
                f"(sha256 {actual[:12]} != {recorded['plan_sha256'][:12]})"
            )
        ctx.log("system", f"applying {plan_path} (sha256 {actual[:12]}) saved by `{plan_step}`")
        return await self._apply(run, ["apply", "-json", "-input=false", str(plan_path)])

    async def _apply(self, run: _Commands, argv: list[str]) -> StepResult:
        code, ui = await run.ui(argv)
        if code != 0:
            return _ui_failure("apply", ui, code)
        changes = ui.changes or {}
        summary = apply_summary(changes, ui.operation)
        outputs = {
            "add": str(changes.get("add", 0)),
            "change": str(changes.get("change", 0)),
            "destroy": str(changes.get("remove", 0)),
            "summary": summary,
        }
        for name, output in ui.outputs.items():
            if isinstance(output, dict) and "value" in output and not output.get("sensitive"):
                outputs[f"output_{name}"] = _output_text(output["value"])
        return succeeded(summary, outputs, exit_code=code)


class TofuExecutor(TerraformExecutor):
    type_name: ClassVar[str] = "tofu"


class _Commands:
    """Runs the binary's subcommands for one step, logging what they print."""

    def __init__(self, ctx: StepContext, program: str, env: dict[str, str], cwd: Path) -> None:
        self.ctx, self.program, self.env, self.cwd = ctx, program, env, cwd

    async def plain(self, args: list[str]) -> int:
        self.ctx.log("system", f"$ {self.ctx.step.type} {' '.join(args)}")
        return await run_tool(self.ctx, [self.program, *args], env=self.env, cwd=self.cwd)

    async def ui(self, args: list[str]) -> tuple[int, UiStream]:
        ui = UiStream()

        def on_line(stream: str, line: str) -> None:
            parsed = ui.feed(line) if stream == "stdout" else None
            if parsed is None:
                self.ctx.log(stream, line)
                return
            for text in parsed[1]:
                self.ctx.log(parsed[0], text)

        self.ctx.log("system", f"$ {self.ctx.step.type} {' '.join(args)}")
        code = await run_tool(
            self.ctx, [self.program, *args], env=self.env, cwd=self.cwd, on_line=on_line
        )
        return code, ui

    async def capture(self, args: list[str]) -> tuple[dict[str, Any] | None, int]:
        """Run a command whose stdout is one JSON document (e.g. `show -json`)."""
        chunks: list[str] = []

        def on_line(stream: str, line: str) -> None:
            if stream == "stdout":
                chunks.append(line)
            else:
                self.ctx.log(stream, line)

        code = await run_tool(
            self.ctx, [self.program, *args], env=self.env, cwd=self.cwd, on_line=on_line
        )
        try:
            document = json.loads("\n".join(chunks))
        except ValueError:
            return None, code
        return (document if isinstance(document, dict) else None), code


def _plan_outputs(ctx: StepContext, plan_step: str) -> dict[str, str] | None:
    # a matrix copy `apply[region=us]` applies the plan of `plan[region=us]` when it exists
    names = [plan_step]
    if ctx.step.matrix:
        combo = ",".join(f"{k}={v}" for k, v in ctx.step.matrix.items())
        names.insert(0, f"{plan_step}[{combo}]")
    for name in names:
        outputs = ctx.outputs.get(name) or {}
        if outputs.get("plan_path") and outputs.get("plan_sha256"):
            return dict(outputs)
    return None


def _ui_failure(what: str, ui: UiStream, code: int) -> StepResult:
    if ui.errors:
        more = f" (+{len(ui.errors) - 1} more)" if len(ui.errors) > 1 else ""
        return failed(f"{what} failed: {ui.errors[0]}{more}", exit_code=code)
    return failed(f"{what} failed ({exit_message(code)})", exit_code=code)


__all__ = ["TerraformExecutor", "TofuExecutor", "UiStream", "count_plan_actions"]
