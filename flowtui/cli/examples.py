"""The examples every command's `--help` ends with, and the "did you mean" for a typo.

Help that teaches: a person reading `flowtui history --help` sees two or three command lines
to copy, not only the option list.
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable

EXAMPLES: dict[str, tuple[str, ...]] = {
    "dashboard": ("flowtui", "flowtui dashboard workflows/ --theme flowtui-light"),
    "run": (
        "flowtui run workflows/deploy.yaml -p version=1.2.3",
        "flowtui run deploy --only apply --dry-run   # apply and what it requires: the plan",
        "flowtui run deploy --detach && flowtui attach last",
    ),
    "attach": ("flowtui attach last", "flowtui attach 42   # Ctrl-C detaches; the run goes on"),
    "validate": ("flowtui validate workflows/", "flowtui validate --json deploy.yaml"),
    "list": ("flowtui list", "flowtui list workflows/"),
    "history": (
        "flowtui history deploy -n 5",
        "flowtui history --status failed --since 2h",
        "flowtui history --branch main --trigger cron --env production --until 2026-01-31",
    ),
    "show": (
        "flowtui show last",
        "flowtui show 42 --step apply --lines 50",
        "flowtui show 42 --compare --timeline   # against the last green run before it",
    ),
    "graph": (
        "flowtui graph production-deploy",
        "flowtui graph last --boxes       # a run, with each step's state",
        "flowtui graph deploy.yaml --mermaid > docs/deploy.mmd",
    ),
    "logs": (
        "flowtui logs last -f",
        "flowtui logs 42 apply --tail 20",
        "flowtui logs 42 --grep 'error|warn' --since 10m",
    ),
    "approve": ("flowtui approve last", "flowtui approve 42 approve -m 'plan looks right'"),
    "reject": ("flowtui reject last", "flowtui reject 42 approve -m 'wrong region'"),
    "rerun": (
        "flowtui rerun last",
        "flowtui rerun 42 --from deploy --dry-run   # the plan: what runs again, what is reused",
        "flowtui rerun 42 --from-start",
    ),
    "shell": (
        "flowtui shell last deploy                # $SHELL where deploy ran, with its environment",
        "flowtui shell 42 test -c 'env | grep ^STEPS_'",
    ),
    "pause": ("flowtui pause scheduled-backup", "flowtui pause workflows/backup.yaml"),
    "resume": ("flowtui resume scheduled-backup", "flowtui resume workflows/backup.yaml"),
    "cancel": ("flowtui cancel last", "flowtui cancel 42 --wait 30"),
    "serve": ("flowtui serve workflows/", "flowtui serve --port 9000 --no-webhooks"),
    "web": (
        "flowtui web workflows/",
        "flowtui web --host 0.0.0.0 --port 8080  # from other machines",
    ),
    "worker": ("flowtui worker -Q linux", "flowtui worker -Q gpu -c 2 --name gpu-box"),
    "db": ("flowtui db local", "flowtui db copy flowtui.db postgresql://flowtui@db:5432/flowtui"),
    "db local": ("flowtui db local", "flowtui db local ./pgdata --port 5544"),
    "db copy": (
        "flowtui db copy flowtui.db postgresql://flowtui@db:5432/flowtui",
        "flowtui db copy postgresql://flowtui@db:5432/flowtui backup.db",
    ),
    "inbox": ("flowtui inbox", "flowtui inbox --json | jq '.[].step'"),
    "triggers": ("flowtui triggers", "flowtui triggers scheduled-backup -n 50"),
    "completion": (
        "source <(flowtui completion bash)",
        "flowtui completion zsh > ~/.zfunc/_flowtui",
        "flowtui completion fish > ~/.config/fish/completions/flowtui.fish",
    ),
    "init": ("flowtui init", "flowtui init my-project && cd my-project && flowtui"),
    "token": ("flowtui token list", "flowtui token revoke ci-bot"),
    "token create": (
        "flowtui token create ci-bot --scope run > ~/.flowtui-token",
        "flowtui token create grafana --scope read",
    ),
    "token list": ("flowtui token list", "flowtui token list --db postgresql://flowtui@db/flowtui"),
    "token revoke": (
        "flowtui token revoke ci-bot",
        "flowtui token list && flowtui token revoke old",
    ),
    "edit": (
        "flowtui edit deploy.yaml --add-step smoke --type http --set url=http://127.0.0.1:8080/ "
        "--requires apply",
        "flowtui edit deploy.yaml --rename apply apply_us   # requires and steps.X follow",
        "flowtui edit deploy.yaml --connect plan apply --dry-run   # apply requires plan",
    ),
    "envs": ("flowtui envs", "flowtui envs deploy --json"),
    "promote": (
        "flowtui promote deploy --to production   # from its `promote_from`",
        "flowtui promote deploy --from staging --to production -q",
    ),
}


def epilog(command: str) -> str | None:
    lines = EXAMPLES.get(command)
    return "examples:\n" + "\n".join(f"  {line}" for line in lines) if lines else None


def attach_examples(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], prefix: str = ""
) -> None:
    """Give each command's parser its examples (kept as written, line by line), also to
    the actions of a command that has some (`db local`)."""
    for name, parser in sub.choices.items():
        text = epilog(prefix + name)
        if text is not None:
            parser.epilog = text
            parser.formatter_class = argparse.RawDescriptionHelpFormatter
        for action in parser._actions:
            if isinstance(action, argparse._SubParsersAction):
                attach_examples(action, f"{prefix}{name} ")


def closest(word: str, commands: Iterable[str]) -> str | None:
    """The command `word` was probably meant to be, if one is close enough."""
    import difflib  # only for a mistyped command (issue #18: start-up)

    public = [c for c in commands if not c.startswith("_")]
    found = difflib.get_close_matches(word, public, n=1, cutoff=0.6)
    return found[0] if found else None
