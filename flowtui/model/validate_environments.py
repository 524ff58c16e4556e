"""Checking `environments:` (a workflow's or a folder's `environments.yaml`), `release:`
and `report:`, every problem with file:line:col."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from flowtui.model.checker import ENV_NAME_RE, MISSING, NAME_RE, CheckerBase, describe
from flowtui.model.environments import (
    ENVIRONMENT_KEYS,
    PROTECTION_KEYS,
    Environment,
    Protection,
)
from flowtui.model.validate_approval import approval_spec
from flowtui.model.workflow import SecretSpec, Step, Trigger
from flowtui.model.yamlsafe import YMap

RELEASE_RE = re.compile(r"steps\.([A-Za-z0-9][A-Za-z0-9_.\-\[\]=,]*?)\.outputs\.([A-Za-z0-9_.-]+)")
REPORT_KINDS = ("github", "gitlab")
REPORT_KEYS = {
    "github": ("repo", "token", "api_url", "context", "target_url"),
    "gitlab": ("project", "token", "api_url", "context", "target_url"),
}
REPO_RE = re.compile(r"[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+")


class EnvironmentRules(CheckerBase):
    """Mixin: needs `secrets(m)` (the loader's `secrets:` reader)."""

    def secrets(self, root: YMap) -> dict[str, SecretSpec]:  # pragma: no cover - overridden
        raise NotImplementedError

    def environments(self, root: YMap) -> dict[str, Environment]:
        """`environments: {NAME: {variables, secrets, protection, concurrency, ...}}`."""
        value = self._get(root, "environments")
        if value is MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(
                root, "environments", "a mapping of environment names", "e.g. `staging: {}`"
            )
            return {}
        found: dict[str, Environment] = {}
        for name, item in value.items():
            entry = value.entries[name]
            if not isinstance(name, str) or not NAME_RE.fullmatch(name):
                self.error(
                    entry.key_pos,
                    f"`{entry.key_text}` is not a valid environment name",
                    "start with a letter or digit, then use letters, digits, `_`, `.` or `-`",
                )
                continue
            if item is None:
                found[name] = Environment(name, entry.key_pos)
                continue
            if not isinstance(item, YMap):
                self.error(
                    entry.value_pos,
                    f"environment `{name}` must be a mapping, got {describe(item)}",
                    "e.g. `{variables: {TARGET: prod}, protection: {approvers: [alice]}}`",
                )
                continue
            owner = f"environment `{name}`"
            self.check_keys(item, ENVIRONMENT_KEYS, owner)
            promote_from = None
            if self._get(item, "promote_from") is not MISSING:
                promote_from = self.get_name(item, "promote_from", "environment name")
            found[name] = Environment(
                name=name,
                pos=entry.key_pos,
                description=self.get_str(item, "description", ""),
                variables=self.get_scalar_map(
                    item, "variables", ENV_NAME_RE, "variable", "use letters, digits and _"
                ),
                secrets=self.secrets(item),
                protection=self._protection(item, owner),
                concurrency=self.get_int(item, "concurrency", 1, 1),
                promote_from=promote_from,
            )
        return found

    def _protection(self, item: YMap, owner: str) -> Protection | None:
        value = self._get(item, "protection")
        if value is MISSING:
            return None
        if not isinstance(value, YMap):
            self._wrong(item, "protection", "a mapping", "e.g. `{approvers: [alice], timeout: 1h}`")
            return None
        self.check_keys(value, PROTECTION_KEYS, f"the protection of {owner}")
        spec = approval_spec(self, value, f"the protection of {owner}")
        return Protection(spec, self.get_duration(value, "timeout", None, positive=True))

    def check_environment_refs(self, environments: Mapping[str, Environment]) -> None:
        for env in environments.values():
            if env.promote_from is not None and env.promote_from not in environments:
                known = ", ".join(sorted(environments)) or "none"
                self.error(
                    env.pos,
                    f"environment `{env.name}`: `promote_from` names an unknown environment "
                    f"`{env.promote_from}`",
                    f"known environments: {known}",
                )

    def check_trigger_environments(
        self, root: YMap, triggers: Sequence[Trigger], environments: Mapping[str, Environment]
    ) -> None:
        """A trigger's `environment:` must name one of the workflow's environments."""
        for trigger in triggers:
            name = trigger.options.get("environment")
            if name is None:
                continue
            pos = trigger.pos or root.pos
            if not isinstance(name, str) or name not in environments:
                known = ", ".join(sorted(environments)) or "none declared"
                self.error(
                    pos,
                    f"the `{trigger.kind}` trigger names an unknown environment {name!r}",
                    f"known environments: {known}",
                )

    def release(self, root: YMap, steps: Mapping[str, Step]) -> tuple[str, str] | None:
        """`release: steps.STEP.outputs.NAME`."""
        text = self.get_str(root, "release", None)
        if text is None:
            return None
        match = RELEASE_RE.fullmatch(text.strip())
        if match is None:
            self.error(
                root.value_pos("release"),
                f"`release` must name a step output, got {text!r}",
                "write `release: steps.build.outputs.version`",
            )
            return None
        step, output = match.group(1), match.group(2)
        if steps and step not in steps and step not in self.broken:
            self.error(
                root.value_pos("release"),
                f"`release` names an unknown step `{step}`",
                f"steps: {', '.join(steps)}",
            )
            return None
        return step, output

    def report(self, root: YMap) -> dict[str, Any]:
        """`report: {github: {repo, token: {env: VAR}, api_url?}, gitlab: {project, ...}}`."""
        value = self._get(root, "report")
        if value is MISSING:
            return {}
        if not isinstance(value, YMap):
            self._wrong(root, "report", "a mapping", "e.g. `{github: {repo: owner/name, ...}}`")
            return {}
        self.check_keys(value, REPORT_KINDS, "`report`")
        result: dict[str, Any] = {}
        for kind in REPORT_KINDS:
            item = self._get(value, kind)
            if item is MISSING:
                continue
            if not isinstance(item, YMap):
                self._wrong(value, kind, "a mapping")
                continue
            self.check_keys(item, REPORT_KEYS[kind], f"`report.{kind}`")
            target_key = "repo" if kind == "github" else "project"
            target = self.require_str(item, target_key, f"`report.{kind}`", "owner/name")
            if kind == "github" and target is not None and not REPO_RE.fullmatch(target):
                self.error(item.value_pos("repo"), f"`repo` must be owner/name, got {target!r}")
            token = self._token(item, kind)
            if target is None or token is None:
                continue
            default_api = "https://api.github.com" if kind == "github" else "https://gitlab.com"
            result[kind] = {
                target_key: target,
                "token": token,
                "api_url": self.get_str(item, "api_url", default_api).rstrip("/"),
                "context": self.get_str(item, "context", ""),
                "target_url": self.get_str(item, "target_url", ""),
            }
        return result

    def _token(self, item: YMap, kind: str) -> str | None:
        value = self._get(item, "token")
        if value is MISSING:
            self.error(
                item.pos,
                f"`report.{kind}` is missing `token`",
                "add `token: {env: VARIABLE}` (the value never goes in the file)",
            )
            return None
        if (
            not isinstance(value, YMap)
            or set(value) != {"env"}
            or not isinstance(value["env"], str)
            or not ENV_NAME_RE.fullmatch(value["env"])
        ):
            self.error(
                item.value_pos("token"),
                f"`report.{kind}.token` must be `{{env: VARIABLE}}`",
                "the token itself never goes in the workflow file",
            )
            return None
        return str(value["env"])
