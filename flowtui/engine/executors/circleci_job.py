"""The "circleci-job" step: one CircleCI job's steps, in order, on this host.

The job gets a private home folder inside its step folder (`~` in the config means it,
and `$HOME` points at it), its working directory is `~/project` unless the config says
otherwise, and each `run` is its own process group: `<shell> -c <command>` with CircleCI's
default shell `/bin/bash -eo pipefail`.  `$BASH_ENV` names a file that bash sources
before every command, so `echo 'export X=1' >> "$BASH_ENV"` carries over between steps as
it does on CircleCI.  The spec comes from flowtui.model.circleci; see docs/circleci.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import glob
import os
import shlex
import shutil
import subprocess
from collections.abc import Mapping
from pathlib import Path
from typing import Any, ClassVar

from flowtui.engine.executors.base import StepContext, StepResult
from flowtui.engine.executors.toolrun import MESSAGE_LIMIT, LastLine
from flowtui.engine.process import run_streaming
from flowtui.engine.states import StepStatus
from flowtui.engine.stepenv import inherited_environment
from flowtui.model.branches import tag_of

WORKSPACE_DIR = "circleci"  # inside the run's workspace: CircleCI's workflow workspace
HEADER = "── "


class JobFailed(Exception):
    """A non-`run` step (checkout, workspace) could not do its job."""


def project_dir(ctx: StepContext) -> Path | None:
    """The folder holding `.circleci/` (what `checkout` copies), if the config has a path."""
    path = ctx.workflow.path
    if path is None:
        return None
    parent = path.resolve().parent
    return parent.parent if parent.name == ".circleci" else parent


def expand(path: str, home: Path, base: Path) -> Path:
    """A config path: `~` is the job's home, relative paths are relative to `base`."""
    if path == "~" or path.startswith("~/"):
        return home / path[2:]
    candidate = Path(path)
    return candidate if candidate.is_absolute() else base / candidate


def _git(args: list[str], cwd: Path) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=10, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _copy_entry(source: Path, target: Path) -> None:
    if source.is_dir() and not source.is_symlink():
        shutil.copytree(source, target, symlinks=True, dirs_exist_ok=True)
    else:
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(source, target, follow_symlinks=False)


def checkout(project: Path, target: Path) -> str:
    """Copy the project's working tree (uncommitted changes included, ignored files not)."""
    target.mkdir(parents=True, exist_ok=True)
    listed = _git(["ls-files", "-z", "--cached", "--others", "--exclude-standard"], project)
    if listed is None:  # not a git work tree: the whole folder, without VCS metadata
        shutil.copytree(
            project,
            target,
            symlinks=True,
            dirs_exist_ok=True,
            ignore=shutil.ignore_patterns(".git"),
        )
        return f"copied {project} (not a git work tree) into {target}"
    count = 0
    for name in dict.fromkeys(n for n in listed.split("\0") if n):
        source = project / name
        if not source.exists() and not source.is_symlink():
            continue  # deleted in the working tree but not yet committed
        _copy_entry(source, target / name)
        count += 1
    return f"copied {count} files of {project} (working tree, uncommitted changes included)"


def persist(root: Path, paths: list[str], store: Path) -> str:
    """Copy `paths` (globs allowed) under `root` into the workspace folder `store`."""
    root = Path(os.path.abspath(root))  # not resolve(): a symlinked root stays comparable
    if not root.is_dir():
        raise JobFailed(f"persist_to_workspace: root {root} is not a directory")
    copied = 0
    for pattern in paths:
        matches = (
            sorted(glob.glob(str(root / pattern)))
            if glob.has_magic(pattern)
            else [str(root / pattern)]
        )
        matches = [m for m in matches if os.path.lexists(m)]
        if not matches:
            raise JobFailed(f"persist_to_workspace: `{pattern}` matches nothing under {root}")
        for match in matches:
            source = Path(os.path.abspath(match))
            if not source.is_relative_to(root):
                raise JobFailed(f"persist_to_workspace: `{pattern}` leaves the root {root}")
            rel = source.relative_to(root)
            _copy_entry(source, store / rel)
            copied += 1
    return f"persisted {copied} path(s) from {root}"


def attach(store: Path, at: Path) -> str:
    at.mkdir(parents=True, exist_ok=True)
    if not store.is_dir():
        return f"the workspace is empty; created {at}"
    shutil.copytree(store, at, symlinks=True, dirs_exist_ok=True)
    return f"attached the workspace at {at}"


class CircleCIJobExecutor:
    type_name: ClassVar[str] = "circleci-job"

    async def execute(self, ctx: StepContext) -> StepResult:
        spec = ctx.step.spec
        home = ctx.step_dir / "home"
        home.mkdir(parents=True, exist_ok=True)
        workdir = expand(str(spec.get("working_directory") or "~/project"), home, home)
        try:
            workdir.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            return _failed(f"cannot create the working directory {workdir}: {exc.strerror}")
        for note in spec.get("notes") or ():
            ctx.log("system", f"note: {note}")
        env = await asyncio.to_thread(self._environment, ctx, home, workdir)
        job = _Job(ctx, spec, env, home, workdir)
        return await job.run()

    @staticmethod
    def _environment(ctx: StepContext, home: Path, workdir: Path) -> dict[str, str]:
        project = project_dir(ctx)
        sha = _git(["rev-parse", "HEAD"], project) if project else None
        branch = _run_branch(ctx)
        tag = tag_of(branch)  # a run for a tag (`--tag`) has a tag and no branch, as on CircleCI
        if tag is not None:
            branch = None
        elif branch is None and project is not None:
            branch = _git(["rev-parse", "--abbrev-ref", "HEAD"], project)
        bash_env = ctx.step_dir / "bash_env"
        bash_env.touch()
        env: dict[str, str] = {**inherited_environment(), **ctx.env}
        env.update(
            CI="true",
            CIRCLECI="true",
            HOME=str(home),
            BASH_ENV=str(bash_env),
            CIRCLE_BRANCH=branch or "",
            CIRCLE_SHA1=sha or "",
            CIRCLE_JOB=ctx.step.name,
            CIRCLE_WORKFLOW_ID=f"flowtui-run-{ctx.run_id}",
            CIRCLE_WORKFLOW_JOB_ID=f"flowtui-run-{ctx.run_id}-{ctx.step.name}",
            CIRCLE_BUILD_NUM=str(ctx.run_id),
            CIRCLE_WORKING_DIRECTORY=str(workdir),
            CIRCLE_PROJECT_REPONAME=project.name if project else "",
            CIRCLE_NODE_INDEX="0",
            CIRCLE_NODE_TOTAL="1",
            FLOWTUI_WORKSPACE=str(ctx.workspace),
            FLOWTUI_RUN_ID=str(ctx.run_id),
            FLOWTUI_STEP=ctx.step.name,
            FLOWTUI_ATTEMPT=str(ctx.attempt),
        )
        if tag is not None:
            env["CIRCLE_TAG"] = tag
        env.update(ctx.step.spec.get("environment") or {})
        return env


def _run_branch(ctx: StepContext) -> str | None:
    """The branch the run was started for (`flowtui run --branch`), if any."""
    branch = getattr(ctx, "branch", None) or ctx.env.get("FLOWTUI_BRANCH")
    return str(branch) if branch else None


class _Job:
    """One attempt of a job: its steps in order, `when:` deciding what runs after a failure."""

    def __init__(
        self,
        ctx: StepContext,
        spec: Mapping[str, Any],
        env: dict[str, str],
        home: Path,
        workdir: Path,
    ) -> None:
        self.ctx = ctx
        self.spec = spec
        self.env = env
        self.home = home
        self.workdir = workdir
        self.failure: StepResult | None = None
        self.on_line = LastLine(ctx)
        self.background: list[asyncio.Task[int]] = []

    async def run(self) -> StepResult:
        try:
            for step in self.spec.get("steps") or ():
                await self._step(step)
        finally:
            await self._stop_background()
        if self.failure is not None:
            return self.failure
        return StepResult(
            StepStatus.SUCCEEDED, exit_code=0, message=self.on_line.stdout.strip()[:MESSAGE_LIMIT]
        )

    async def _step(self, step: Mapping[str, Any]) -> None:
        kind = step.get("kind")
        name = str(step.get("name") or kind)
        if kind == "unsupported":
            self.ctx.log("system", f"{HEADER}{name}: skipped, {step.get('reason')}")
            return
        when = step.get("when", "on_success") if kind == "run" else "on_success"
        failed = self.failure is not None
        if (when == "on_success" and failed) or (when == "on_fail" and not failed):
            self.ctx.log("system", f"{HEADER}{name}: skipped (when: {when})")
            return
        self.ctx.log("system", f"{HEADER}{name}")
        if kind == "run":
            await self._run(step, name)
            return
        try:
            message = await asyncio.to_thread(self._builtin, step)
        except (JobFailed, OSError) as exc:
            text = str(exc) if isinstance(exc, JobFailed) else f"{name}: {exc}"
            self.ctx.log("stderr", text)
            self._fail(StepResult(StepStatus.FAILED, message=text[:MESSAGE_LIMIT]))
            return
        self.ctx.log("system", message)

    def _builtin(self, step: Mapping[str, Any]) -> str:
        kind = step["kind"]
        store = self.ctx.workspace / WORKSPACE_DIR
        if kind == "checkout":
            project = project_dir(self.ctx)
            if project is None:
                raise JobFailed("checkout: this workflow has no file, so no project to copy")
            target = expand(str(step.get("path") or "."), self.home, self.workdir)
            return checkout(project, target)
        if kind == "persist_to_workspace":
            root = expand(str(step["root"]), self.home, self.workdir)
            return persist(root, list(step["paths"]), store)
        if kind == "attach_workspace":
            return attach(store, expand(str(step["at"]), self.home, self.workdir))
        raise JobFailed(f"unknown step kind {kind!r}")

    async def _run(self, step: Mapping[str, Any], name: str) -> None:
        shell = str(step.get("shell") or self.spec.get("shell") or "/bin/bash -eo pipefail")
        argv = [*shlex.split(shell), "-c", str(step["command"])]
        cwd = self.workdir
        if step.get("working_directory"):
            cwd = expand(str(step["working_directory"]), self.home, self.workdir)
        env = {**self.env, **(step.get("environment") or {})}
        if shutil.which(argv[0], path=env.get("PATH", os.defpath)) is None:
            self._fail(_failed(f"{name}: shell {argv[0]!r} not found"))
            return
        try:
            cwd.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            self._fail(_failed(f"{name}: cannot create {cwd}: {exc.strerror}"))
            return
        started = run_streaming(
            argv,
            env=env,
            cwd=cwd,
            on_line=self.on_line,
            on_start=self.ctx.on_process,
            kill_grace=self.ctx.kill_grace,
        )
        if step.get("background"):
            self.background.append(asyncio.create_task(started))
            return
        try:
            code = await started
        except (FileNotFoundError, PermissionError) as exc:
            self._fail(_failed(f"{name}: cannot start {argv[0]}: {exc.strerror or exc}"))
            return
        if code != 0:
            reason = f"exit code {code}" if code > 0 else f"killed by signal {-code}"
            self.ctx.log("system", f"{name}: {reason}")
            self._fail(
                StepResult(
                    StepStatus.FAILED, exit_code=code, message=f"{name}: {reason}"[:MESSAGE_LIMIT]
                )
            )

    def _fail(self, result: StepResult) -> None:
        if self.failure is None:  # the first failure is the job's reason
            self.failure = result

    async def _stop_background(self) -> None:
        for task in self.background:
            task.cancel()
        for task in self.background:
            with contextlib.suppress(asyncio.CancelledError, OSError):
                await task


def _failed(message: str) -> StepResult:
    return StepResult(StepStatus.FAILED, message=message[:MESSAGE_LIMIT])


__all__ = ["CircleCIJobExecutor", "attach", "checkout", "expand", "persist"]
