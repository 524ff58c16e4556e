"""Who is acting, and whether they may decide an approval.

An approver entry is a user name, `team:NAME` (members of the OS group NAME; on a
PostgreSQL history, members of the database role NAME), or `*`.
An empty approver list lets anyone decide.
"""

from __future__ import annotations

import getpass
import grp
import os
import pwd
from collections.abc import Collection, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from flowtui.engine.records import RunRecord

TRUST_AS_ENV = "FLOWTUI_TRUST_AS"


def current_user() -> str:
    try:
        return pwd.getpwuid(os.getuid()).pw_name
    except KeyError:
        return getpass.getuser()


def resolve_identity(as_user: str | None) -> str:
    """The acting identity: the OS user, or `as_user` when the environment allows it.

    `--as` exists for wrappers that authenticate people themselves (a chat bot, a web
    front end); they set FLOWTUI_TRUST_AS=1.  Without it, pretending to be someone else
    is refused.
    """
    me = current_user()
    if not as_user or as_user == me:
        return me
    if os.environ.get(TRUST_AS_ENV) == "1":
        return as_user
    raise PermissionError(
        f"--as {as_user}: acting as another user is not allowed "
        f"(you are {me}; set {TRUST_AS_ENV}=1 in a wrapper that authenticates users)"
    )


def _group_members(name: str) -> set[str]:
    try:
        group = grp.getgrnam(name)
    except KeyError:
        return set()
    members = set(group.gr_mem)
    for entry in pwd.getpwall():
        if entry.pw_gid == group.gr_gid:
            members.add(entry.pw_name)
    return members


def may_approve(user: str, approvers: Sequence[str], groups: Collection[str] | None = None) -> bool:
    """Whether `user` may decide a step with these `approvers`.

    `team:NAME` means members of NAME: the groups `user` is in when given (a PostgreSQL
    history gives the database roles it is a member of), else the OS group NAME.
    """
    if not approvers:
        return True
    for entry in approvers:
        if entry in ("*", user):
            return True
        if entry.startswith("team:"):
            team = entry[5:]
            if team in groups if groups is not None else user in _group_members(team):
                return True
    return False


def approvers_of(run: RunRecord, step: str) -> list[str]:
    """The `approvers` of `step` as the run's own definition says (not today's file)."""
    from flowtui.model.environments import recorded_gate
    from flowtui.model.errors import WorkflowError
    from flowtui.model.loader import load_workflow_text

    if (gate := recorded_gate(run.definition, step)) is not None:  # an environment's
        return list(gate.spec.get("approvers") or [])
    source = str(run.definition.get("source") or "")
    if not source:
        return []
    try:
        workflow = load_workflow_text(source, run.workflow_path or run.workflow)
    except WorkflowError:
        return []
    found = workflow.steps.get(step)
    return list(found.spec.get("approvers") or []) if found else []
