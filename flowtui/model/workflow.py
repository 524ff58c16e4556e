"""The typed form of a workflow file, after loading and validation.

A loaded `Workflow` is immutable data: the runner reads it, never changes it.  Every
element keeps the `SourcePos` it came from so that any later error can name file:line.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from msgspec import Struct, field

STEP_TYPES = ("script", "http", "approval", "condition", "notify", "workflow")
# bundled integrations, described in flowtui/model/steptypes.py (plugins add more there)
INTEGRATION_STEP_TYPES = ("ansible", "terraform", "tofu", "python")
TRIGGER_KINDS = ("manual", "cron", "webhook", "git", "workflow", "incident")
WORKFLOW_STATUSES = ("active", "paused", "draft")
SHELLS = ("bash", "sh", "python", "node")


class SourcePos(Struct, frozen=True):
    file: str
    line: int  # 1-based
    column: int  # 1-based

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.column}"


class Trigger(Struct, frozen=True):
    kind: str  # one of TRIGGER_KINDS
    options: Mapping[str, Any] = field(default_factory=dict)
    pos: SourcePos | None = None


class ParamSpec(Struct, frozen=True):
    name: str
    default: str | None = None
    required: bool = False
    description: str = ""


class SecretSpec(Struct, frozen=True):
    """Where a secret's value comes from; the value itself is read only at run start."""

    name: str  # the environment variable the steps see
    source: str  # "env" or "file"
    ref: str  # the variable's name, or the file's path (relative to the workflow file)
    pos: SourcePos | None = None


class Step(Struct, frozen=True):
    """One node of the DAG.

    `spec` holds the validated, type-specific keys (see docs/workflow-format.md):
      script:    run (str), shell (str), cwd (str | None)
      http:      url, method, headers (dict), body (str | None), json (Any | None),
                 expect_status (int), expect_body (str | None)
      approval:  approvers (list[str]), message (str), inputs (tuple[ApprovalInput]),
                 required_approvals (int), allow_self_approval (bool) (flowtui.model.approval)
      condition: if (str), then (list[str]), else (list[str])
      notify:    url (str), message (str)
      workflow:  workflow (str: name or path), params (dict[str, str])
      others:    plain data checked by their StepTypeSchema (flowtui/model/steptypes.py):
                 ansible, terraform, tofu, python and plugin types
    """

    name: str
    type: str
    pos: SourcePos
    requires: tuple[str, ...] = ()
    spec: Mapping[str, Any] = field(default_factory=dict)
    env: Mapping[str, str] = field(default_factory=dict)
    when: str | None = None
    continue_on_failure: bool = False
    timeout: float | None = None  # seconds
    retries: int = 0  # `retries: N`, or `limit` of the `retries:` mapping
    retry_delay: float = 1.0  # seconds before the first retry
    retry_backoff: float = 2.0  # each later delay is the one before times this
    retry_max_delay: float = 300.0  # no delay is longer
    retry_on_exit_codes: tuple[int, ...] = ()  # retry only failures with these codes; (): any
    description: str = ""
    # matrix expansion: "apply[region=us]" has base "apply" and matrix {"region": "us"}
    base: str = ""
    matrix: Mapping[str, str] = field(default_factory=dict)
    # handlers: `always` runs once its requires are final whatever their outcome (also after
    # a cancel); `on_failure` does the same but only when the run has a failed step by then
    always: bool = False
    on_failure: bool = False
    kill_grace: float | None = None  # seconds between SIGINT/SIGTERM/SIGKILL; None: runner's
    # {"only": (...), "ignore": (...)}: run only for matching branches (flowtui.model.branches)
    branches: Mapping[str, tuple[str, ...]] | None = None
    # team mode: the worker queue that runs this step (`flowtui worker --queue`); None: the
    # runner itself.  Approval, condition and workflow steps always run in the runner.
    runs_on: str | None = None
    # `sandbox: false`: its processes may reach the history (and use sudo, which the
    # sandbox's no_new_privs forbids); None: the workflow's `sandbox:`
    sandbox: bool | None = None

    @property
    def base_name(self) -> str:
        return self.base or self.name

    def retry_delay_after(self, attempt: int) -> float:
        """Seconds to wait after failed attempt `attempt` (1-based) before the next."""
        delay = self.retry_delay * self.retry_backoff ** (attempt - 1)
        return min(delay, self.retry_max_delay)

    def retries_exit(self, exit_code: int | None) -> bool:
        """Whether a failure with `exit_code` may be retried (`on_exit_codes`); a failure
        with no exit code (a timeout, a refused request) only when no codes are listed."""
        return not self.retry_on_exit_codes or exit_code in self.retry_on_exit_codes


# step types that are the runner's own business: they never go to a worker queue
RUNNER_ONLY_TYPES = frozenset({"approval", "condition", "workflow"})


class Workflow(Struct, frozen=True):
    name: str
    steps: Mapping[str, Step]  # in file order, matrix copies expanded in place
    path: Path | None = None
    pos: SourcePos | None = None
    description: str = ""
    status: str = "active"
    triggers: tuple[Trigger, ...] = (Trigger("manual"),)
    concurrency: int | None = None  # None: unlimited
    # workflows naming the same group share one `concurrency` limit and one FIFO queue
    concurrency_group: str | None = None
    env: Mapping[str, str] = field(default_factory=dict)
    params: Mapping[str, ParamSpec] = field(default_factory=dict)
    fail_fast: bool = False
    source_hash: str = ""  # sha256 of the file's bytes
    # the exact text this was loaded from: what a run records and a rerun reloads, even
    # when the file has changed (or broken) since
    source: str = ""
    secrets: Mapping[str, SecretSpec] = field(default_factory=dict)
    runs_on: str | None = None  # the default queue of its steps (see Step.runs_on)
    sandbox: bool = True  # the default of its steps (see Step.sandbox)
    # environments it may run in (flowtui.model.environments.Environment), the folder's
    # `environments.yaml` overlaid with its own `environments:`
    environments: Mapping[str, Any] = field(default_factory=dict)
    # the environment a run of it is bound to (set by `bind_environment`); None: none
    environment: str | None = None
    # `release: steps.STEP.outputs.NAME`: (step, output) whose value a successful run in an
    # environment makes that environment's current release
    release: tuple[str, str] | None = None
    # `report:` commit statuses, {"github"|"gitlab": {...}} (flowtui.model.reporting)
    report: Mapping[str, Any] = field(default_factory=dict)

    def step(self, name: str) -> Step:
        return self.steps[name]
