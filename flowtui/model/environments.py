"""Environments a run deploys to, and binding a workflow to one.

An environment (declared in a folder's `environments.yaml` or a workflow's `environments:`)
carries variables and secrets for the steps, an optional protection (an approval gate
before any step runs) and a concurrency (one run at a time per workflow and environment
unless it says otherwise).  `bind_environment` turns a workflow plus an environment into
the workflow a run executes: nothing in the engine knows about environments, it sees an
approval step, variables, secrets and a concurrency group.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from msgspec import Struct, field
from msgspec.structs import replace

from flowtui.model.workflow import SecretSpec, SourcePos, Step, Workflow

ENVIRONMENTS_FILES = ("environments.yaml", "environments.yml")
ENVIRONMENT_KEYS = (
    "description",
    "variables",
    "secrets",
    "protection",
    "concurrency",
    "promote_from",
)
PROTECTION_KEYS = (
    "approvers",
    "message",
    "timeout",
    "required_approvals",
    "allow_self_approval",
)


class Protection(Struct, frozen=True):
    """An approval gate before any step of a run in the environment."""

    spec: Mapping[str, Any]  # an approval step's spec (approvers, message, ...)
    timeout: float | None = None  # seconds; None: wait for ever


class Environment(Struct, frozen=True):
    name: str
    pos: SourcePos
    description: str = ""
    variables: Mapping[str, str] = field(default_factory=dict)
    secrets: Mapping[str, SecretSpec] = field(default_factory=dict)
    protection: Protection | None = None
    concurrency: int = 1  # runs at a time per (workflow, environment)
    promote_from: str | None = None  # the environment `flowtui promote` takes releases from


class UnknownEnvironment(LookupError):
    """A run asked for an environment its workflow does not know."""


def gate_name(environment: str) -> str:
    """The approval step a protected environment puts before every other step."""
    return f"approve-{environment}"


def concurrency_group(workflow: str, environment: str) -> str:
    return f"{workflow}@{environment}"


def unknown_environment(workflow: Workflow, name: str) -> str:
    known = ", ".join(sorted(workflow.environments)) or "none"
    return f"{workflow.name} has no environment `{name}` (known: {known})"


def for_run(workflow: Workflow, name: str | None) -> Workflow:
    """The workflow a run chosen by a person starts (`flowtui run --env`, the dashboard's
    `r` and `:run --env`): bound to environment `name`, or as it is for None."""
    return workflow if not name else bind_environment(workflow, name)


def choice_label(env: Environment) -> str:
    """How a run dialog offers environment `env`: its name, whether it is protected (and
    by whom), its description."""
    label = env.name
    if env.protection is not None:
        approvers = env.protection.spec.get("approvers") or []
        who = ", ".join(str(a) for a in approvers) if approvers else "anyone"
        label += f" (protected: approval by {who})"
    if env.description:
        label += f" — {env.description}"
    return label


def bind_environment(
    workflow: Workflow, name: str, extra_env: Mapping[str, str] | None = None
) -> Workflow:
    """The workflow a run in environment `name` executes; LookupError if it is unknown.

    Variables and `FLOWTUI_ENVIRONMENT` join the workflow's `env:` (the environment's win),
    its secrets join the workflow's, the run joins the concurrency group of its workflow
    and environment, and a protection becomes an approval step every root step requires.
    """
    env = workflow.environments.get(name)
    if env is None:
        raise UnknownEnvironment(unknown_environment(workflow, name))
    steps: dict[str, Step] = dict(workflow.steps)
    if env.protection is not None:
        gate = gate_name(name)
        if gate in steps:
            raise UnknownEnvironment(
                f"{workflow.name}: a step is named `{gate}`, the gate environment `{name}` adds"
            )
        spec = dict(env.protection.spec)
        if not spec.get("message"):
            spec["message"] = f"run {workflow.name} in {name}?"
        gated = {
            step_name: step if step.requires else replace(step, requires=(gate,))
            for step_name, step in steps.items()
        }
        steps = {
            gate: Step(
                name=gate,
                type="approval",
                pos=env.pos,
                spec=spec,
                timeout=env.protection.timeout,
                description=f"protection of environment {name}",
                sandbox=workflow.sandbox,
            ),
            **gated,
        }
    variables = {**workflow.env, **env.variables, "FLOWTUI_ENVIRONMENT": name}
    variables.update(extra_env or {})
    return replace(
        workflow,
        steps=steps,
        env=variables,
        secrets={**workflow.secrets, **env.secrets},
        concurrency=env.concurrency,
        concurrency_group=concurrency_group(workflow.name, name),
        environment=name,
    )


def gate_record(workflow: Workflow) -> dict[str, Any] | None:
    """The protection gate of a bound workflow as a run's definition records it, so the
    approvers checked later are the run's own, not today's environments file."""
    if workflow.environment is None:
        return None
    gate = workflow.steps.get(gate_name(workflow.environment))
    if gate is None or gate.type != "approval":
        return None
    return {"name": gate.name, "spec": dict(gate.spec), "timeout": gate.timeout}


def recorded_gate(definition: Mapping[str, Any], name: str) -> Step | None:
    """The gate `gate_record` wrote into a run's definition, if it is step `name`."""
    gate = definition.get("gate")
    if not isinstance(gate, dict) or gate.get("name") != name:
        return None
    spec = gate.get("spec") if isinstance(gate.get("spec"), dict) else {}
    timeout = gate.get("timeout")
    return Step(
        name=name,
        type="approval",
        pos=SourcePos("<environment>", 1, 1),
        spec=dict(spec or {}),
        timeout=float(timeout) if isinstance(timeout, int | float) else None,
    )


def environment_record(env: Environment) -> dict[str, Any]:
    """Environment `env` as a run's definition records it (JSON), beside the workflow's
    source text: a rerun or an adopted queued run binds this, not today's environments
    file.  Secrets are recorded by source (`{env: VAR}`, `{file: PATH}`), never by value."""
    protection = env.protection
    return {
        "name": env.name,
        "pos": [env.pos.file, env.pos.line, env.pos.column],
        "description": env.description,
        "variables": dict(env.variables),
        "secrets": {name: {"source": s.source, "ref": s.ref} for name, s in env.secrets.items()},
        "protection": None
        if protection is None
        else {"spec": dict(protection.spec), "timeout": protection.timeout},
        "concurrency": env.concurrency,
        "promote_from": env.promote_from,
    }


def recorded_environment(definition: Mapping[str, Any], name: str) -> Environment | None:
    """The environment `environment_record` wrote into a run's definition, if it is `name`
    (None for runs recorded before environments were: they bind today's file)."""
    data = definition.get("environment")
    if not isinstance(data, dict) or data.get("name") != name:
        return None
    pos = data.get("pos")
    where = (
        SourcePos(str(pos[0]), int(pos[1]), int(pos[2]))
        if isinstance(pos, list) and len(pos) == 3
        else SourcePos("<environment>", 1, 1)
    )
    secrets = {
        str(key): SecretSpec(str(key), str(spec.get("source")), str(spec.get("ref")))
        for key, spec in (data.get("secrets") or {}).items()
        if isinstance(spec, dict)
    }
    guard = data.get("protection")
    protection = None
    if isinstance(guard, dict):
        timeout = guard.get("timeout")
        protection = Protection(
            dict(guard.get("spec") or {}),
            float(timeout) if isinstance(timeout, int | float) else None,
        )
    source = data.get("promote_from")
    concurrency = data.get("concurrency")
    return Environment(
        name=name,
        pos=where,
        description=str(data.get("description") or ""),
        variables={str(k): str(v) for k, v in (data.get("variables") or {}).items()},
        secrets=secrets,
        protection=protection,
        concurrency=concurrency if isinstance(concurrency, int) else 1,
        promote_from=str(source) if source else None,
    )
