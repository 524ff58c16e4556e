"""Webhook bodies → run requests: GitHub and GitLab pushes, GitHub pull requests and GitLab
merge requests, Alertmanager alerts, plain JSON.

Every value becomes a string param; scripts see it only as `$PARAM_<NAME>`, never spliced
into a command.  NUL characters are dropped (an environment variable cannot hold one) and
long values are cut, so no payload can stop a run from starting by its shape alone.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

MAX_VALUE_CHARS = 16_384
PARAM_NAME_RE = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class PayloadError(ValueError):
    """The body cannot be turned into a run request (answered 400 or 422)."""


@dataclass(frozen=True, slots=True)
class RunRequest:
    """What one delivery asks for."""

    params: dict[str, str]
    branch: str | None = None
    commit: str | None = None
    # strict: the sender named the params itself (a plain JSON body), so a name the workflow
    # does not declare is an error; otherwise extra fields are dropped quietly
    strict: bool = False
    summary: str = ""  # shown in the outcome, e.g. "push to main by alice"
    by: str = ""  # the person or system that caused it
    dedup_key: str | None = None  # one run per key (an alert's fingerprint + start)
    ignore: str = ""  # non-empty: nothing to run, and why (e.g. a deleted branch)
    # what the delivery is, for a webhook trigger's `events:` filter: push, pull_request
    # (a GitLab merge request too) or json (a plain body of params)
    event: str = "json"
    extra: dict[str, Any] = field(default_factory=dict)


def clean(value: Any) -> str:
    """A payload value as the string a script will see."""
    if value is None:
        text = ""
    elif isinstance(value, str):
        text = value
    elif isinstance(value, bool):
        text = "true" if value else "false"
    elif isinstance(value, int | float):
        text = str(value)
    else:
        text = json.dumps(value, separators=(",", ":"), sort_keys=True)
    return text.replace("\x00", "")[:MAX_VALUE_CHARS]


def branch_of(ref: Any) -> str | None:
    if isinstance(ref, str) and ref.startswith("refs/heads/"):
        return ref[len("refs/heads/") :] or None
    return None


def _push(source: str, ref: Any, commit: Any, pusher: Any, message: Any, repo: Any) -> RunRequest:
    branch = branch_of(ref)
    params = {
        "branch": clean(branch),
        "ref": clean(ref),
        "commit": clean(commit),
        "pusher": clean(pusher),
        "message": clean(message),
        "repository": clean(repo),
        "event": "push",
    }
    where = f"to {branch}" if branch else f"of {clean(ref)}"
    return RunRequest(
        params=params,
        branch=branch,
        commit=clean(commit) or None,
        summary=f"{source} push {where} by {clean(pusher) or 'unknown'}",
        by=clean(pusher),
        event="push",
    )


def github_push(body: Mapping[str, Any]) -> RunRequest:
    head = body.get("head_commit") or {}
    pusher = body.get("pusher") or {}
    repo = body.get("repository") or {}
    request = _push(
        "github",
        body.get("ref"),
        body.get("after") or head.get("id"),
        pusher.get("name") or (body.get("sender") or {}).get("login"),
        head.get("message"),
        repo.get("full_name"),
    )
    if body.get("deleted"):
        return RunRequest(params={}, ignore=f"{request.summary}: the ref was deleted")
    return request


def gitlab_push(body: Mapping[str, Any]) -> RunRequest:
    commit = body.get("checkout_sha") or body.get("after")
    commits = [c for c in body.get("commits") or [] if isinstance(c, Mapping)]
    message = next((c.get("message") for c in commits if c.get("id") == commit), None)
    if message is None and commits:
        message = commits[-1].get("message")
    project = body.get("project") or {}
    request = _push(
        "gitlab",
        body.get("ref"),
        commit,
        body.get("user_username") or body.get("user_name"),
        message,
        project.get("path_with_namespace"),
    )
    if commit is None or set(str(commit)) == {"0"}:
        return RunRequest(params={}, ignore=f"{request.summary}: the ref was deleted")
    return request


# what starts a run: a new pull request, new commits on it, or one opened again
PR_ACTIONS = ("opened", "synchronize", "reopened")


def _pull_request(
    source: str,
    number: Any,
    title: Any,
    head: Any,
    commit: Any,
    base: Any,
    author: Any,
    url: Any,
    repo: Any,
    action: str,
) -> RunRequest:
    head_branch = clean(head) or None
    params = {
        "pr_number": clean(number),
        "pr_title": clean(title),
        "head_branch": clean(head),
        "head_commit": clean(commit),
        "base_branch": clean(base),
        "pr_author": clean(author),
        "pr_url": clean(url),
        "pr_action": action,
        "repository": clean(repo),
        # the names a push gives too, so one workflow serves both
        "branch": clean(head),
        "commit": clean(commit),
        "event": "pull_request",
    }
    kind = "pull request" if source == "github" else "merge request"
    return RunRequest(
        params=params,
        branch=head_branch,  # branch filters apply to the head branch
        commit=clean(commit) or None,
        summary=f"{source} {kind} #{clean(number)} {action} by {clean(author) or 'unknown'}"
        f" ({clean(head)} → {clean(base)})",
        by=clean(author),
        event="pull_request",
    )


def github_pull_request(body: Mapping[str, Any]) -> RunRequest:
    action = clean(body.get("action"))
    pr = body.get("pull_request") or {}
    if not isinstance(pr, Mapping):
        raise PayloadError("`pull_request` must be an object")
    number = body.get("number") or pr.get("number")
    if action not in PR_ACTIONS:  # closed, edited, labeled, ...: nothing to build
        return RunRequest(params={}, ignore=f"github pull request #{clean(number)} {action}")
    head, base = pr.get("head") or {}, pr.get("base") or {}
    return _pull_request(
        "github",
        number,
        pr.get("title"),
        head.get("ref"),
        head.get("sha"),
        base.get("ref"),
        (pr.get("user") or {}).get("login") or (body.get("sender") or {}).get("login"),
        pr.get("html_url"),
        (body.get("repository") or {}).get("full_name"),
        action,
    )


def gitlab_merge_request(body: Mapping[str, Any]) -> RunRequest:
    attrs = body.get("object_attributes") or {}
    if not isinstance(attrs, Mapping):
        raise PayloadError("`object_attributes` must be an object")
    action = clean(attrs.get("action"))
    number = attrs.get("iid")
    # an `update` with `oldrev` brought new commits; other updates (title, labels) do not
    pushed = action == "update" and bool(attrs.get("oldrev"))
    if action not in ("open", "reopen") and not pushed:
        return RunRequest(params={}, ignore=f"gitlab merge request !{clean(number)} {action}")
    named = {"open": "opened", "reopen": "reopened", "update": "synchronize"}[action]
    return _pull_request(
        "gitlab",
        number,
        attrs.get("title"),
        attrs.get("source_branch"),
        (attrs.get("last_commit") or {}).get("id"),
        attrs.get("target_branch"),
        (body.get("user") or {}).get("username"),
        attrs.get("url"),
        (body.get("project") or {}).get("path_with_namespace"),
        named,
    )


def plain_json(body: Mapping[str, Any]) -> RunRequest:
    """A body written for flowtui: its keys are the run's params."""
    bad = [str(k) for k in body if not PARAM_NAME_RE.fullmatch(str(k))]
    if bad:
        raise PayloadError(
            f"invalid param name(s) {', '.join(sorted(bad))}: use letters, digits and _"
        )
    params = {str(k): clean(v) for k, v in body.items()}
    return RunRequest(
        params=params,
        branch=params.get("branch") or None,
        commit=params.get("commit") or None,
        strict=True,
        summary="webhook " + (", ".join(sorted(params)) or "(no params)"),
    )


def from_hook(headers: Mapping[str, str], body: Any) -> RunRequest:
    """Understand a `/hooks/<workflow>` delivery from its event headers and JSON body."""
    if not isinstance(body, Mapping):
        raise PayloadError("the body must be a JSON object")
    github_event = headers.get("X-GitHub-Event")
    gitlab_event = headers.get("X-Gitlab-Event")
    if github_event == "ping":
        return RunRequest(params={}, ignore="github ping")
    if github_event == "push" or (github_event is None and _looks_like_github_push(body)):
        return github_push(body)
    if gitlab_event == "Push Hook" or body.get("object_kind") == "push":
        return gitlab_push(body)
    if github_event == "pull_request":
        return github_pull_request(body)
    if gitlab_event == "Merge Request Hook" or body.get("object_kind") == "merge_request":
        return gitlab_merge_request(body)
    if github_event or gitlab_event:
        event = github_event or gitlab_event
        return RunRequest(params={}, ignore=f"event {event!r} is not a push or pull request")
    return plain_json(body)


def _looks_like_github_push(body: Mapping[str, Any]) -> bool:
    return "ref" in body and "head_commit" in body and "pusher" in body


def alertmanager(body: Any) -> list[RunRequest]:
    """One request per firing alert of an Alertmanager webhook (payload version 4)."""
    if not isinstance(body, Mapping) or not isinstance(body.get("alerts"), list):
        raise PayloadError("not an Alertmanager payload: expected an object with `alerts`")
    common = body.get("commonLabels") or {}
    requests = []
    for alert in body["alerts"]:
        if not isinstance(alert, Mapping):
            raise PayloadError("every entry of `alerts` must be an object")
        labels = {**common, **(alert.get("labels") or {})}
        annotations = alert.get("annotations") or {}
        name = clean(labels.get("alertname"))
        fingerprint = clean(alert.get("fingerprint"))
        starts = clean(alert.get("startsAt"))
        status = clean(alert.get("status") or body.get("status"))
        params = {
            "alertname": name,
            "severity": clean(labels.get("severity")),
            "summary": clean(annotations.get("summary")),
            "description": clean(annotations.get("description")),
            "fingerprint": fingerprint,
            "starts_at": starts,
            "status": status,
            "labels": clean(dict(labels)),
        }
        summary = f"alert {name or '(unnamed)'} {status}"
        if status != "firing":
            requests.append(RunRequest(params={}, summary=summary, ignore=f"{summary}"))
            continue
        requests.append(
            RunRequest(
                params=params,
                summary=summary + (f" ({params['severity']})" if params["severity"] else ""),
                by="alertmanager",
                # Alertmanager repeats a firing alert every repeat_interval: one run per alert
                dedup_key=f"{fingerprint or name}@{starts}",
            )
        )
    return requests
