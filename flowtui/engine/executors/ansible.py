"""The "ansible" step: run `ansible-playbook` and summarise its per-host results.

The command is an argv list; `extra_vars` reach Ansible only as a JSON file (`-e @file`),
never spliced into a string.  Ansible's own output streams to the step log as usual,
while a small callback plugin shipped with flowtui (ansible_plugins/flowtui_events.py)
writes failures and the final per-host stats as JSON lines to a file in the step folder.
"""

from __future__ import annotations

import json
import os
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
    workflow_dir,
)

CALLBACK_DIR = Path(__file__).with_name("ansible_plugins")
CALLBACK_NAME = "flowtui_events"
EVENTS_FILE = "ansible-events.jsonl"
EXTRA_VARS_FILE = "extra-vars.json"
# the order Ansible's PLAY RECAP uses; "failures" is reported as failed=
COUNTS = ("ok", "changed", "unreachable", "failed", "skipped", "rescued", "ignored")
INSTALL_HINT = "ansible-playbook not found on PATH (pip install 'flowtui[ansible]')"


def _as_list(value: Any) -> list[str]:
    if value is None:
        return []
    return [value] if isinstance(value, str) else [str(v) for v in value]


def build_argv(program: str, spec: dict[str, Any], extra_vars_file: Path | None) -> list[str]:
    argv = [program, str(spec["playbook"])]
    for inventory in _as_list(spec.get("inventory")):
        argv += ["-i", inventory]
    if extra_vars_file is not None:
        argv += ["-e", f"@{extra_vars_file}"]
    if spec.get("limit"):
        argv += ["--limit", str(spec["limit"])]
    if spec.get("check"):
        argv.append("--check")
    if spec.get("diff"):
        argv.append("--diff")
    if tags := _as_list(spec.get("tags")):
        argv += ["--tags", ",".join(tags)]
    if skip := _as_list(spec.get("skip_tags")):
        argv += ["--skip-tags", ",".join(skip)]
    return argv


def _prepend(path: str, existing: str | None) -> str:
    return f"{path}{os.pathsep}{existing}" if existing else path


def ansible_environment(ctx: StepContext, events_file: Path) -> dict[str, str]:
    env = step_environment(ctx)
    enabled = [c for c in env.get("ANSIBLE_CALLBACKS_ENABLED", "").split(",") if c.strip()]
    env.update(
        ANSIBLE_CALLBACK_PLUGINS=_prepend(str(CALLBACK_DIR), env.get("ANSIBLE_CALLBACK_PLUGINS")),
        ANSIBLE_CALLBACKS_ENABLED=",".join([*enabled, CALLBACK_NAME]),
        FLOWTUI_ANSIBLE_EVENTS=str(events_file),
        ANSIBLE_NOCOLOR="1",  # the log is plain text
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_RETRY_FILES_ENABLED="0",
    )
    return env


def read_events(path: Path) -> tuple[list[dict[str, Any]], dict[str, dict[str, int]]]:
    """(failure events, per-host stats) from the callback's JSON lines."""
    failures: list[dict[str, Any]] = []
    hosts: dict[str, dict[str, int]] = {}
    try:
        lines = path.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return failures, hosts
    for line in lines:
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if event.get("event") == "stats":
            hosts = event.get("hosts") or {}
        elif event.get("event") in ("failed", "unreachable") and not event.get("ignored"):
            failures.append(event)
    return failures, hosts


def totals(hosts: dict[str, dict[str, int]]) -> dict[str, int]:
    counts = dict.fromkeys(COUNTS, 0)
    for stats in hosts.values():
        for key in COUNTS:
            counts[key] += int(stats.get("failures" if key == "failed" else key, 0))
    return counts


def describe_failure(event: dict[str, Any]) -> str:
    what = "unreachable" if event.get("event") == "unreachable" else "failed"
    msg = event.get("msg") or "no message"
    return f"{event.get('host')}: {event.get('task')} {what}: {msg}"


class AnsibleExecutor:
    type_name: ClassVar[str] = "ansible"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = dict(ctx.step.spec)
        ctx.step_dir.mkdir(parents=True, exist_ok=True)
        events_file = ctx.step_dir / EVENTS_FILE
        events_file.write_bytes(b"")
        env = ansible_environment(ctx, events_file)
        program = find_program(str(spec.get("binary") or "ansible-playbook"), env)
        if program is None:
            return failed(INSTALL_HINT if not spec.get("binary") else f"{spec['binary']} not found")

        playbook = under_workflow(ctx, str(spec["playbook"]))
        if not playbook.is_file():
            return failed(f"playbook not found: {playbook}")
        spec["playbook"] = str(playbook)
        spec["inventory"] = [
            str(under_workflow(ctx, i)) if (workflow_dir(ctx) / i).exists() else i
            for i in _as_list(spec.get("inventory"))
        ]  # a file beside the workflow, or an inline list such as "localhost,"
        extra_vars_file = None
        if spec.get("extra_vars"):
            extra_vars_file = ctx.step_dir / EXTRA_VARS_FILE
            extra_vars_file.write_text(json.dumps(spec["extra_vars"]), encoding="utf-8")

        argv = build_argv(program, spec, extra_vars_file)
        ctx.log("system", "$ " + " ".join(argv))
        try:
            code = await run_tool(ctx, argv, env=env, cwd=workflow_dir(ctx))
        except OSError as exc:
            return failed(f"cannot start ansible-playbook: {exc.strerror or exc}")

        failures, hosts = read_events(events_file)
        counts = totals(hosts)
        summary = " ".join(f"{key}={counts[key]}" for key in COUNTS)
        for event in failures:
            ctx.log("system", "FAILED " + describe_failure(event))
        outputs = {key: str(value) for key, value in counts.items()}
        outputs.update(hosts=",".join(hosts), summary=summary)
        if spec.get("check"):
            summary += " (check mode)"
        if code == 0:
            return succeeded(summary, outputs)
        if failures:
            first = describe_failure(failures[0])
            more = f" (+{len(failures) - 1} more)" if len(failures) > 1 else ""
            return failed(f"{summary}; {first}{more}", exit_code=code, **outputs)
        if not hosts:  # it stopped before running any play: a syntax error, a bad inventory
            return failed(f"ansible-playbook failed ({exit_message(code)})", exit_code=code)
        return failed(f"{summary} ({exit_message(code)})", exit_code=code, **outputs)


__all__ = ["AnsibleExecutor", "build_argv", "read_events", "totals"]
