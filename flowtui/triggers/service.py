"""TriggerService: runs every trigger of the loaded workflows and starts their runs.

One asyncio task per source — the cron clock, the chain poller, one watcher per git
trigger (started and stopped as the catalog changes) and, when asked, the webhook server.
Every decision goes through `fire`, which checks the workflow may be triggered (status,
paused flag), its branch filter and its params, submits the run and records the outcome.

Occurrences that two services sharing a database could both see (a cron time, a commit, a
finished upstream run, an alert) are claimed first with a lease row; the loser does nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Mapping
from datetime import datetime
from pathlib import Path

from flowtui.engine.admission import trigger_allowed
from flowtui.engine.events import Event, RunStatusChanged
from flowtui.engine.runner import RunError, Runner
from flowtui.model.branches import branch_matches, describe_mismatch
from flowtui.model.environments import bind_environment
from flowtui.model.workflow import Trigger, Workflow
from flowtui.store.runstore import RunStore
from flowtui.store.triggerstore import TriggerEventRecord, TriggerStore
from flowtui.triggers import chain, cron, gitwatch
from flowtui.triggers.hooks import WebhookOptions, secret_env_of
from flowtui.triggers.payloads import RunRequest, clean

log = logging.getLogger("flowtui.triggers")

CHAIN_CURSOR = "chain:cursor"
HTTP_KINDS = ("webhook", "incident")


def cron_key(trigger: Trigger) -> str:
    return f"cron:{trigger.options.get('schedule')}:{trigger.options.get('timezone') or 'UTC'}"


class TriggerService:
    def __init__(
        self,
        store: RunStore,
        runner: Runner,
        workflows: Callable[[], list[Workflow]],
        *,
        webhook: WebhookOptions | None = None,
        now: Callable[[], datetime] = cron.utcnow,
        on_outcome: Callable[[TriggerEventRecord], None] | None = None,
        on_notice: Callable[[str], None] | None = None,
        env: Mapping[str, str] | None = None,
        tick: float = 1.0,
        chain_interval: float = 1.0,
        git_poll: float = 30.0,
        cron_grace: float = cron.DEFAULT_GRACE,
    ) -> None:
        self.store = store
        self.runner = runner
        self.workflows = workflows
        self.triggers = TriggerStore(store.db)
        self.webhook_options = webhook
        self.now = now
        self.env = env if env is not None else os.environ
        self.tick = tick
        self.chain_interval = chain_interval
        self.git_poll = git_poll
        self.cron_grace = cron_grace
        self._on_outcome = on_outcome
        self._on_notice = on_notice
        self._tasks: list[asyncio.Task[None]] = []
        self._git: dict[tuple[str, str, str], tuple[asyncio.Task[None], asyncio.Event]] = {}
        self._cron_last: dict[str, datetime] = {}
        self._chain_wake = asyncio.Event()
        self._noticed: set[str] = set()
        self._server: object | None = None  # a webhook.WebhookServer, imported lazily
        self.webhook_port: int | None = None

    # -- lifecycle -------------------------------------------------------------------
    async def start(self) -> None:
        if self._tasks:
            return
        if await self.triggers.get_state(CHAIN_CURSOR) is None:
            # a new database or first start: chains follow runs from now on, not old history
            await self.triggers.init_state(CHAIN_CURSOR, str(await self.store.last_event_id()))
        if self.webhook_options is not None:
            from flowtui.triggers.webhook import WebhookServer

            server = WebhookServer(self, self.webhook_options)
            self.webhook_port = await server.start()
            self._server = server
        self.runner.bus.add_listener(self._on_event)
        self._tasks = [
            asyncio.create_task(self._loop(self.cron_tick, self.tick), name="flowtui-cron"),
            asyncio.create_task(self._chain_loop(), name="flowtui-chain"),
            asyncio.create_task(self._loop(self.reconcile, self.tick), name="flowtui-reconcile"),
        ]

    async def close(self) -> None:
        with contextlib.suppress(ValueError):
            self.runner.bus.remove_listener(self._on_event)
        if self._server is not None:
            from flowtui.triggers.webhook import WebhookServer

            assert isinstance(self._server, WebhookServer)
            await self._server.close()
            self._server = None
        tasks = self._tasks + [task for task, _ in self._git.values()]
        for _, stop in self._git.values():
            stop.set()
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks = []
        self._git = {}

    async def __aenter__(self) -> TriggerService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def _loop(self, action: Callable[[], object], interval: float) -> None:
        while True:
            try:
                await action()  # type: ignore[misc]
            except Exception:  # one bad trigger or a locked database must not stop the rest
                log.exception("trigger loop %s failed; retrying", getattr(action, "__name__", ""))
            await asyncio.sleep(interval)

    def _on_event(self, event: Event) -> None:
        if isinstance(event, RunStatusChanged) and event.status.is_final:
            self._chain_wake.set()

    def notice(self, message: str) -> None:
        if self._on_notice is not None:
            self._on_notice(message)
        else:
            log.warning("%s", message)

    def workflow(self, name: str) -> Workflow | None:
        for workflow in self.workflows():
            if workflow.name == name:
                return workflow
        return None

    # -- the one way a trigger starts a run -----------------------------------------
    async def fire(
        self, workflow: Workflow, trigger: Trigger, request: RunRequest
    ) -> TriggerEventRecord:
        """Start a run of `workflow` for `request` unless it may not; record the outcome."""
        kind = trigger.kind
        allowed, why = await trigger_allowed(self.store, workflow)
        if not allowed:
            return await self.record(workflow.name, kind, "ignored", why)
        events = trigger.options.get("events")
        if events is not None and request.event not in events:
            shown = request.summary or f"a {request.event} delivery"
            detail = f"{shown}: the trigger takes {', '.join(events) or 'no events'} only"
            return await self.record(workflow.name, kind, "ignored", detail)
        branches = trigger.options.get("branches")
        if branches and not branch_matches(branches, request.branch):
            detail = describe_mismatch(branches, request.branch) or (
                f"branch {request.branch} not in filter"
            )
            return await self.record(workflow.name, kind, "ignored", detail)
        if (environment := trigger.options.get("environment")) is not None:
            try:  # `environment: NAME`: the run is bound to it, as `run --env` does
                workflow = bind_environment(workflow, str(environment))
            except LookupError as exc:
                return await self.record(workflow.name, kind, "rejected", str(exc))
        params = dict(request.params)
        if workflow.params:
            unknown = sorted(set(params) - set(workflow.params))
            if unknown and request.strict:
                declared = ", ".join(workflow.params)
                detail = f"unknown param(s) {', '.join(unknown)}; {workflow.name} declares: "
                return await self.record(workflow.name, kind, "rejected", detail + declared)
            params = {k: v for k, v in params.items() if k in workflow.params}
        try:
            handle = await self.runner.submit(
                workflow,
                params=params,
                trigger=kind,
                triggered_by=request.by or kind,
                git_commit=request.commit,
                branch=request.branch,
            )
        except RunError as exc:
            return await self.record(workflow.name, kind, "rejected", str(exc))
        return await self.record(workflow.name, kind, "fired", request.summary, handle.run_id)

    async def record(
        self,
        workflow: str,
        kind: str,
        outcome: str,
        detail: str = "",
        run_id: int | None = None,
    ) -> TriggerEventRecord:
        event = await self.triggers.record(workflow, kind, outcome, detail, run_id)
        if self._on_outcome is not None:
            try:
                self._on_outcome(event)
            except Exception:  # a display problem must not undo a started run
                log.exception("trigger outcome callback failed")
        return event

    # -- cron ------------------------------------------------------------------------
    async def cron_tick(self) -> list[TriggerEventRecord]:
        """Fire every cron trigger due at `now()` (at most once per fire time, anywhere)."""
        now = self.now()
        done = []
        for workflow in self.workflows():
            for trigger in workflow.triggers:
                if trigger.kind == "cron":
                    event = await self._cron_one(workflow, trigger, now)
                    if event is not None:
                        done.append(event)
        return done

    async def _cron_one(
        self, workflow: Workflow, trigger: Trigger, now: datetime
    ) -> TriggerEventRecord | None:
        key = cron_key(trigger)
        state_key = f"cron:{workflow.name}:{key}"
        last = self._cron_last.get(state_key)
        if last is None:
            # first sight: nothing before now is "missed" for a trigger nobody watched yet
            stored = await self.triggers.init_state(state_key, now.isoformat())
            last = self._cron_last[state_key] = cron.parse_instant(stored)
        options = trigger.options
        decision = cron.decide(
            str(options["schedule"]),
            last=last,
            now=now,
            timezone=options.get("timezone"),
            catchup=bool(options.get("catchup")),
            grace=self.cron_grace,
        )
        if decision.due is None:
            return None
        self._cron_last[state_key] = decision.due
        claimed = await self.triggers.claim_fire(workflow.name, key, decision.occurrence)
        await self.triggers.set_state(state_key, decision.occurrence)
        if not claimed:
            return None  # another service handled this fire time
        when = decision.due.isoformat(timespec="minutes")
        if not decision.fire:
            detail = f"missed {when} while no service was running (catchup: false)"
            return await self.record(workflow.name, "cron", "ignored", detail)
        summary = f"schedule {options['schedule']} at {when}"
        if decision.missed:
            summary += " (catching up a missed fire)"
        params = {"scheduled_at": decision.occurrence}
        return await self.fire(workflow, trigger, RunRequest(params, summary=summary, by="cron"))

    # -- workflow chains -------------------------------------------------------------
    async def _chain_loop(self) -> None:
        while True:
            try:
                await self.chain_poll()
            except Exception:
                log.exception("chain poll failed; retrying")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._chain_wake.wait(), self.chain_interval)
            if self._chain_wake.is_set():
                self._chain_wake.clear()
                # the local run's final status reaches the database with the sink's next batch
                await asyncio.sleep(0.1)

    async def chain_poll(self) -> list[TriggerEventRecord]:
        """Start the workflows chained to runs that finished since the shared cursor."""
        cursor = int(await self.triggers.get_state(CHAIN_CURSOR) or 0)
        finished = await self.triggers.finished_runs_after(cursor)
        done = []
        workflows = self.workflows()
        for event_id, run in finished:
            for match in chain.chained(workflows, run):
                if not await self.triggers.claim_fire(match.workflow.name, match.key, str(run.id)):
                    continue
                request = RunRequest(
                    chain.params_for(run),
                    branch=run.branch,
                    commit=run.git_commit,
                    summary=f"{run.workflow} run {run.id} {run.status}",
                    by=f"{run.workflow}#{run.id}",
                )
                done.append(await self.fire(match.workflow, match.trigger, request))
            cursor = event_id
        if finished:
            await self.triggers.raise_int_state(CHAIN_CURSOR, cursor)
        return done

    # -- git -------------------------------------------------------------------------
    def git_repo(self, workflow: Workflow, trigger: Trigger) -> Path:
        repo = Path(str(trigger.options.get("repo") or ".")).expanduser()
        if not repo.is_absolute() and workflow.path is not None:
            repo = workflow.path.parent / repo
        return repo.resolve()

    async def reconcile(self) -> None:
        """Follow catalog changes: start/stop git watchers, announce webhooks without a secret."""
        wanted: dict[tuple[str, str, str], tuple[Path, str]] = {}
        for workflow in self.workflows():
            for trigger in workflow.triggers:
                if trigger.kind == "git":
                    repo = self.git_repo(workflow, trigger)
                    branch = str(trigger.options.get("branch") or "main")
                    wanted[(workflow.name, str(repo), branch)] = (repo, branch)
                elif trigger.kind in HTTP_KINDS and self._server is not None:
                    self._check_secret(workflow, trigger)
        for key in [k for k in self._git if k not in wanted]:
            task, stop = self._git.pop(key)
            stop.set()
            task.cancel()
        for key, (repo, branch) in wanted.items():
            if key not in self._git:
                stop = asyncio.Event()
                task = asyncio.create_task(
                    self._watch_git(key[0], repo, branch, stop), name=f"flowtui-git-{key[0]}"
                )
                self._git[key] = (task, stop)

    def _check_secret(self, workflow: Workflow, trigger: Trigger) -> None:
        env_name = secret_env_of(trigger)
        note = f"{workflow.name}:{trigger.kind}:{env_name}"
        if self.env.get(env_name):
            self._noticed.discard(note)
        elif note not in self._noticed:
            self._noticed.add(note)
            route = "hooks" if trigger.kind == "webhook" else "alerts"
            self.notice(
                f"{trigger.kind} trigger of {workflow.name} is disabled: no secret — set "
                f"{env_name} in the service's environment (POST /{route}/{workflow.name} "
                "is refused until then)"
            )

    async def _watch_git(self, name: str, repo: Path, branch: str, stop: asyncio.Event) -> None:
        async def check() -> None:
            try:
                await self.git_check(name, repo, branch)
            except Exception:
                log.exception("git trigger of %s failed; watching on", name)

        await gitwatch.watch_ref(repo, branch, check, poll=self.git_poll, stop=stop)

    async def git_check(self, name: str, repo: Path, branch: str) -> TriggerEventRecord | None:
        """Fire once if the branch points at a commit not seen before (in any process)."""
        workflow = self.workflow(name)
        if workflow is None:
            return None
        trigger = next(
            (
                t
                for t in workflow.triggers
                if t.kind == "git"
                and self.git_repo(workflow, t) == repo
                and str(t.options.get("branch") or "main") == branch
            ),
            None,
        )
        if trigger is None:
            return None
        commit = await gitwatch.branch_commit(repo, branch)
        if commit is None:
            return None
        key = f"git:{repo}:{branch}"
        state_key = f"git:{name}:{repo}:{branch}"
        last = await self.triggers.init_state(state_key, commit)
        if last == commit:
            return None
        # the newest commit only: several pushed while down fire once, for the head
        claimed = await self.triggers.claim_fire(name, key, commit)
        await self.triggers.set_state(state_key, commit)
        if not claimed:
            return None
        info = await gitwatch.commit_info(repo, commit)
        params = {
            "branch": branch,
            "commit": commit,
            "message": clean(info.message),
            "author": clean(info.author),
            "repository": str(repo),
        }
        first_line = info.message.splitlines()[0] if info.message else ""
        request = RunRequest(
            params,
            branch=branch,
            commit=commit,
            summary=f"{branch} at {commit[:12]} {first_line}".rstrip(),
            by=info.author or "git",
        )
        return await self.fire(workflow, trigger, request)
