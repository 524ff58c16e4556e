"""Commit statuses: a run reports itself to GitHub or GitLab (`report:` in the workflow).

`pending` when the run starts, then `success`, `failure` or `error` (GitLab: `success`,
`failed`, `canceled`) when it ends, on the commit the run is for: the `head_commit` param
of a pull request, else its `commit` param, else the commit the run recorded.  The token
is read from the environment variable `report.*.token.env` names, is masked like a secret,
and never reaches a step.  A report that cannot be sent is a line in the run's log, never a
failed run.  `api_url` points at the API (GitHub Enterprise, a self-hosted GitLab, a test
server).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

from msgspec import Struct

from flowtui.engine.states import RunStatus

TIMEOUT = 10.0  # seconds for one report: a slow forge must not hold a run up for long

GITHUB_STATES = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failure",
    RunStatus.CANCELLED: "error",
    RunStatus.INTERRUPTED: "error",
}
GITLAB_STATES = {
    RunStatus.SUCCEEDED: "success",
    RunStatus.FAILED: "failed",
    RunStatus.CANCELLED: "canceled",
    RunStatus.INTERRUPTED: "canceled",
}


class Target(Struct, frozen=True):
    kind: str  # github | gitlab
    config: Mapping[str, Any]
    token: str

    def request(
        self, sha: str, state: str, description: str, context: str, url: str
    ) -> tuple[str, dict[str, str], dict[str, str]]:
        """(url, headers, json body) of one status."""
        api = str(self.config["api_url"])
        if self.kind == "github":
            return (
                f"{api}/repos/{self.config['repo']}/statuses/{sha}",
                {
                    "Authorization": f"Bearer {self.token}",
                    "Accept": "application/vnd.github+json",
                },
                {
                    "state": state,
                    "description": description,
                    "context": context,
                    **({"target_url": url} if url else {}),
                },
            )
        project = quote(str(self.config["project"]), safe="")
        return (
            f"{api}/api/v4/projects/{project}/statuses/{sha}",
            {"PRIVATE-TOKEN": self.token},
            {
                "state": state,
                "description": description,
                "name": context,
                **({"target_url": url} if url else {}),
            },
        )


class CommitStatusReporter:
    """One run's reports: built at the run's start, `send` at start and end."""

    def __init__(
        self,
        report: Mapping[str, Any],
        *,
        workflow: str,
        environment: str | None,
        run_id: int,
        log: Callable[[str], None],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        environ = os.environ if environ is None else environ
        self.run_id = run_id
        self.log = log
        self.targets: list[Target] = []
        self.context_default = f"flowtui/{workflow}" + (f"@{environment}" if environment else "")
        for kind, config in report.items():
            variable = str(config.get("token") or "")
            token = environ.get(variable, "")
            if not token:
                log(f"report to {kind}: the token variable {variable} is not set; not reported")
                continue
            self.targets.append(Target(kind, config, token))

    @property
    def tokens(self) -> list[str]:
        return [t.token for t in self.targets]

    async def send(self, sha: str | None, status: RunStatus | None) -> None:
        """`status` None: the run has started (pending)."""
        if not self.targets:
            return
        if not sha:
            self.log("report: the run has no commit (no head_commit or commit param)")
            return
        import httpx

        word = "started" if status is None else str(status)
        description = f"flowtui run #{self.run_id} {word}"
        async with httpx.AsyncClient(timeout=TIMEOUT) as client:
            for target in self.targets:
                states = GITHUB_STATES if target.kind == "github" else GITLAB_STATES
                state = "pending" if status is None else states.get(status, "error")
                context = str(target.config.get("context") or self.context_default)
                url = str(target.config.get("target_url") or "").replace(
                    "{run_id}", str(self.run_id)
                )
                address, headers, body = target.request(sha, state, description, context, url)
                try:
                    response = await client.post(address, headers=headers, json=body)
                except httpx.HTTPError as exc:
                    self.log(f"report to {target.kind} failed: {type(exc).__name__}: {exc}")
                    continue
                if response.status_code >= 300:
                    self.log(
                        f"report to {target.kind} refused: HTTP {response.status_code} "
                        f"{response.text[:200]}"
                    )
                else:
                    self.log(f"reported {state} to {target.kind} for {sha[:12]}")
