"""Validation of a workflow's `triggers:` list (manual, webhook, cron, git, workflow, ...)."""

from __future__ import annotations

from typing import Any

from flowtui.model.checker import MISSING, CheckerBase, describe, suggest
from flowtui.model.workflow import SourcePos, Trigger
from flowtui.model.yamlsafe import YMap, YSeq, to_plain

WORKFLOW_TRIGGER_ON = ("success", "failure", "any")
# what a webhook delivery is (flowtui/triggers/payloads.py): a GitHub/GitLab push, a pull
# or merge request, or a plain JSON body of params
WEBHOOK_EVENTS = ("push", "pull_request", "json")


class TriggerRules(CheckerBase):
    """Checks the `triggers:` of a workflow."""

    def triggers(self, root: YMap) -> tuple[Trigger, ...]:
        value = self._get(root, "triggers")
        if value is MISSING:
            return (Trigger("manual"),)
        if not isinstance(value, YSeq):
            self._wrong(root, "triggers", "a list", "write `triggers: [manual]`")
            return (Trigger("manual"),)
        result = []
        for item, pos in zip(value, value.positions, strict=True):
            trigger = self.trigger(item, pos)
            if trigger is not None:
                result.append(trigger)
        return tuple(result)

    def trigger(self, item: Any, pos: SourcePos) -> Trigger | None:
        simple = ("manual", "webhook", "incident")
        kinds = ("cron", "webhook", "git", "workflow", "incident", "manual")
        if isinstance(item, str):
            if item in simple:
                return Trigger(item, {}, pos)
            if item in kinds:
                example = {
                    "cron": '`- cron: "0 3 * * *"`',
                    "git": "`- git: {repo: ., branch: main}`",
                    "workflow": "`- workflow: {name: build, on: success}`",
                }[item]
                self.error(pos, f"a `{item}` trigger needs options", f"write {example}")
                return None
            self.error(pos, f"unknown trigger `{item}`", suggest(item, kinds))
            return None
        if not isinstance(item, YMap):
            self.error(pos, f"a trigger must be a name or a mapping, got {describe(item)}")
            return None
        present = [k for k in item if isinstance(k, str) and k in kinds]
        if len(present) != 1:
            found = ", ".join(f"`{k}`" for k in present) or "none"
            self.error(
                item.pos,
                f"a trigger mapping needs exactly one kind key ({', '.join(kinds)}); found {found}",
            )
            return None
        kind = present[0]
        if kind == "cron":
            return self.cron_trigger(item, pos)
        self.check_keys(item, (kind,), f"a `{kind}` trigger")
        options = item[kind]
        if options is None:
            options = YMap(item.value_pos(kind))
        if not isinstance(options, YMap):
            self.error(
                item.value_pos(kind),
                f"the options of a `{kind}` trigger must be a mapping, got {describe(options)}",
            )
            return None
        if kind == "manual":
            self.check_keys(options, (), "a `manual` trigger")
            return Trigger("manual", {}, pos)
        if kind == "git":
            self.check_keys(
                options, ("repo", "branch", "branches", "environment"), "a `git` trigger"
            )
            repo = self.require_str(options, "repo", "a `git` trigger", "path/to/repo")
            branch = self.get_str(options, "branch", "main")
            git = {"repo": repo, "branch": branch, **_environment(options)}
            return Trigger("git", self._with_branches(git, options), pos)
        if kind == "workflow":
            return self.workflow_trigger(options, pos)
        return self.http_trigger(kind, options, pos)

    def http_trigger(self, kind: str, options: YMap, pos: SourcePos) -> Trigger | None:
        """`webhook` and `incident`: every option is one the listener reads (a misspelt one,
        or `secret:` in the file, would be ignored while the user trusts it)."""
        allowed: tuple[str, ...] = ("secret_env", "branches", "environment")
        if kind == "webhook":
            allowed += ("events",)
        if "secret" in options:
            self.error(
                options.entries["secret"].key_pos,
                "`secret` is not read from a workflow file (it would sit in the repository, "
                "in clear)",
                "set it in an environment variable of the service and name that variable "
                "with `secret_env:` (default FLOWTUI_WEBHOOK_SECRET)",
            )
        article = "an" if kind[0] in "aeiou" else "a"
        self.check_keys(options, (*allowed, "secret"), f"{article} `{kind}` trigger")
        plain = to_plain(options)
        plain.pop("secret", None)
        if (env := options.get("secret_env")) is not None and not isinstance(env, str):
            self._wrong(options, "secret_env", "the name of an environment variable")
            plain.pop("secret_env", None)
        if "events" in options:
            given = options["events"]
            events = [given] if isinstance(given, str) else self.get_str_list(options, "events")
            bad = [e for e in events if e not in WEBHOOK_EVENTS]
            for event in bad:
                self.error(
                    options.value_pos("events"),
                    f"unknown webhook event {event!r}",
                    f"use {', '.join(WEBHOOK_EVENTS)}"
                    + (f" ({close})" if (close := suggest(event, WEBHOOK_EVENTS)) else ""),
                )
            plain["events"] = [e for e in events if e in WEBHOOK_EVENTS]
        return Trigger(kind, self._with_branches(plain, options), pos)

    def _with_branches(self, plain: dict[str, Any], options: YMap) -> dict[str, Any]:
        """Trigger options with a `branches` filter normalised to {"only": [...], ...}."""
        found = self.get_branches(options, "branches")
        if found is not None:
            plain["branches"] = {k: list(v) for k, v in found.items()}
        else:
            plain.pop("branches", None)
        return plain

    def cron_trigger(self, item: YMap, pos: SourcePos) -> Trigger | None:
        self.check_keys(
            item, ("cron", "timezone", "catchup", "branches", "environment"), "a `cron` trigger"
        )
        schedule = item["cron"]
        if not isinstance(schedule, str) or len(schedule.split()) not in (5, 6):
            self.error(
                item.value_pos("cron"),
                f"`cron` must be a schedule of 5 or 6 fields, got {describe(schedule)}",
                'for example `cron: "0 3 * * *"` (quote it)',
            )
            return None
        timezone = self.get_str(item, "timezone", None)
        if timezone is not None and not _known_timezone(timezone):
            self.error(
                item.value_pos("timezone"),
                f"unknown timezone {timezone!r}",
                "use an IANA name such as `UTC` or `Europe/Paris`",
            )
        options = {
            "schedule": schedule,
            "timezone": timezone,
            "catchup": self.get_bool(item, "catchup", False),
            **_environment(item),
        }
        return Trigger("cron", self._with_branches(options, item), pos)

    def workflow_trigger(self, options: YMap, pos: SourcePos) -> Trigger | None:
        # `on:` is read by YAML as True; here it is the documented key, so accept it
        if True in options.entries and options.entries[True].key_text.lower() == "on":
            options["on"] = options.pop(True)
            options.entries["on"] = options.entries.pop(True)
        self.check_keys(options, ("name", "on", "branches", "environment"), "a `workflow` trigger")
        name = self.require_str(options, "name", "a `workflow` trigger", "build")
        on = self.get_str(options, "on", "success")
        if on not in WORKFLOW_TRIGGER_ON:
            self.error(
                options.value_pos("on"),
                f"`on` must be one of {', '.join(WORKFLOW_TRIGGER_ON)}, got {on!r}",
            )
            return None
        if name is None:
            return None
        plain = {"name": name, "on": on, **_environment(options)}
        return Trigger("workflow", self._with_branches(plain, options), pos)


def _environment(options: YMap) -> dict[str, Any]:
    """`environment: NAME` as given (checked against the environments by the loader)."""
    value = options.get("environment")
    return {} if value is None else {"environment": value}


def _known_timezone(name: str) -> bool:
    import zoneinfo

    try:
        zoneinfo.ZoneInfo(name)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        # without a timezone database nothing can be checked, so do not blame the file
        try:
            zoneinfo.ZoneInfo("UTC")
        except zoneinfo.ZoneInfoNotFoundError:
            return True
        return False
    return True
