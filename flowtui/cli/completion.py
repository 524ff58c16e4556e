"""`flowtui completion bash|zsh|fish`: a shell completion script, and `flowtui __complete`,
the hidden command the scripts call for words only the history knows.

The commands and their options are written into the script from the argument parser, so
they never drift from it; workflow names, run ids and held steps are asked for as the
user presses Tab (`__complete workflows|runs|held|steps [RUN]`, one word per line, with a
tab and a description where the shell can show one).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib

from flowtui.cli.commands import open_store, resolve_run, search_dirs
from flowtui.engine.states import RunStatus, StepStatus
from flowtui.model.errors import WorkflowError
from flowtui.model.loader import discover_workflows, load_workflow

# which dynamic words a command's first and second positional take
POSITIONALS: dict[str, tuple[str, ...]] = {
    "run": ("workflows",),
    "pause": ("workflows",),
    "resume": ("workflows",),
    "history": ("workflows",),
    "triggers": ("workflows",),
    "envs": ("workflows",),
    "promote": ("workflows",),
    "show": ("runs",),
    "logs": ("runs", "steps"),
    "attach": ("runs",),
    "rerun": ("runs",),
    "cancel": ("runs",),
    "approve": ("held-runs", "held"),
    "reject": ("held-runs", "held"),
    "completion": ("shells",),
    "graph": ("workflows",),
}
RECENT_RUNS = 30


def _commands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return {n: p for n, p in action.choices.items() if not n.startswith("_")}
    return {}


def _help(parser: argparse.ArgumentParser, name: str) -> str:
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for choice in action._choices_actions:
                if choice.dest == name:
                    return str(choice.help or "")
    return ""


def _options(parser: argparse.ArgumentParser) -> list[str]:
    return sorted(
        o for a in parser._actions if a.help != argparse.SUPPRESS for o in a.option_strings
    )


def _valued(parser: argparse.ArgumentParser) -> set[str]:
    """Options that take a value (the word after them is not a positional)."""
    found: set[str] = set()
    for sub in [parser, *_commands(parser).values()]:
        for a in sub._actions:
            if a.option_strings and a.nargs != 0:
                found.update(a.option_strings)
    return found


def bash_script(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    option_cases = "\n".join(
        f'        {name}) opts="{" ".join(_options(sub))}" ;;' for name, sub in commands.items()
    )
    kinds = "\n".join(
        f"        {name}) kinds=({' '.join(k)}) ;;" for name, k in POSITIONALS.items()
    )
    valued = "|".join(sorted(_valued(parser)))
    return f"""# flowtui completion for bash: source <(flowtui completion bash)
_flowtui_words() {{
    # dynamic words from the history: flowtui __complete KIND [RUN] [--db DB]
    local IFS=$'\\n'
    flowtui __complete "$@" "${{_flowtui_db[@]}}" 2>/dev/null | cut -f1
}}

_flowtui() {{
    local cur="${{COMP_WORDS[COMP_CWORD]}}" prev="${{COMP_WORDS[COMP_CWORD-1]}}"
    local cmd="" i w opts="" kinds=() positionals=() _flowtui_db=()
    for ((i = 1; i < COMP_CWORD; i++)); do
        w="${{COMP_WORDS[i]}}"
        case "$w" in
            --db) _flowtui_db=(--db "${{COMP_WORDS[i+1]}}"); ((i++)); continue ;;
            {valued}) ((i++)); continue ;;
            -*) continue ;;
        esac
        if [[ -z "$cmd" ]]; then cmd="$w"; else positionals+=("$w"); fi
    done
    if [[ -z "$cmd" ]]; then
        if [[ "$cur" == -* ]]; then
            COMPREPLY=($(compgen -W "--help --version --db" -- "$cur"))
        else
            COMPREPLY=($(compgen -W "{" ".join(commands)}" -- "$cur"))
        fi
        return
    fi
    case "$prev" in
        --db|--dir|--orbs-dir|--workdir) COMPREPLY=($(compgen -f -- "$cur")); return ;;
        --step|-s) COMPREPLY=($(compgen -W "$(_flowtui_words steps "${{positionals[0]}}")" \\
            -- "$cur")); return ;;
        --status) COMPREPLY=($(compgen -W "{" ".join(str(s) for s in RunStatus)}" -- "$cur"))
            return ;;
        --workflow|-w) COMPREPLY=($(compgen -W "$(_flowtui_words workflows)" -- "$cur"))
            return ;;
        {valued}) return ;;
    esac
    case "$cmd" in
{option_cases}
    esac
    if [[ "$cur" == -* ]]; then
        COMPREPLY=($(compgen -W "$opts" -- "$cur"))
        return
    fi
    case "$cmd" in
{kinds}
    esac
    local kind="${{kinds[${{#positionals[@]}}]}}"
    case "$kind" in
        workflows) COMPREPLY=($(compgen -W "$(_flowtui_words workflows)" -- "$cur")
            $(compgen -f -X '!*.y*ml' -- "$cur") $(compgen -d -- "$cur")) ;;
        runs) COMPREPLY=($(compgen -W "$(_flowtui_words runs)" -- "$cur")) ;;
        held-runs) COMPREPLY=($(compgen -W "$(_flowtui_words held-runs)" -- "$cur")) ;;
        held|steps) COMPREPLY=($(compgen -W "$(_flowtui_words "$kind" "${{positionals[0]}}")" \\
            -- "$cur")) ;;
        shells) COMPREPLY=($(compgen -W "bash zsh fish" -- "$cur")) ;;
        *) COMPREPLY=($(compgen -f -- "$cur")) ;;
    esac
}}
complete -o filenames -F _flowtui flowtui
"""


def zsh_script(parser: argparse.ArgumentParser) -> str:
    # zsh runs the bash function through its own bash-completion layer (bashcompinit)
    return (
        "#compdef flowtui\n# flowtui completion for zsh: source <(flowtui completion zsh)\n"
        "autoload -U +X compinit && compinit\n"
        "autoload -U +X bashcompinit && bashcompinit\n" + bash_script(parser)
    )


def fish_script(parser: argparse.ArgumentParser) -> str:
    commands = _commands(parser)
    names = " ".join(commands)
    lines = [
        "# flowtui completion for fish: flowtui completion fish | source",
        "complete -c flowtui -f",
        "function __flowtui_run_word",
        "    set -l words (commandline -opc)",
        "    for w in $words[3..-1]",
        "        if not string match -q -- '-*' $w",
        "            echo $w; return",
        "        end",
        "    end",
        "end",
    ]
    for name, sub in commands.items():
        desc = _help(parser, name).replace("'", "\\'")
        lines.append(
            f"complete -c flowtui -n 'not __fish_seen_subcommand_from {names}' "
            f"-a {name} -d '{desc}'"
        )
        for option in _options(sub):
            flag = f"-l {option[2:]}" if option.startswith("--") else f"-s {option[1:]}"
            lines.append(f"complete -c flowtui -n '__fish_seen_subcommand_from {name}' {flag}")
    dynamic = {
        "workflows": "(flowtui __complete workflows 2>/dev/null)",
        "runs": "(flowtui __complete runs 2>/dev/null)",
        "held-runs": "(flowtui __complete held-runs 2>/dev/null)",
        "shells": "'bash zsh fish'",
    }
    for name, kinds in POSITIONALS.items():
        first = dynamic.get(kinds[0])
        if first:
            lines.append(f"complete -c flowtui -n '__fish_seen_subcommand_from {name}' -a {first}")
        if len(kinds) > 1:
            lines.append(
                f"complete -c flowtui -n '__fish_seen_subcommand_from {name}' "
                f"-a '(flowtui __complete {kinds[1]} (__flowtui_run_word) 2>/dev/null)'"
            )
    return "\n".join(lines) + "\n"


SCRIPTS = {"bash": bash_script, "zsh": zsh_script, "fish": fish_script}


def cmd_completion(args: argparse.Namespace) -> int:
    from flowtui.cli.main import build_parser

    print(SCRIPTS[args.shell](build_parser()), end="")
    return 0


def cmd_complete(args: argparse.Namespace) -> int:
    for word, about in asyncio.run(_words(args)):
        print(f"{word}\t{about}" if about else word)
    return 0


async def _words(args: argparse.Namespace) -> list[tuple[str, str]]:
    if args.kind == "workflows":
        found: dict[str, str] = {}
        for folder in search_dirs(args):
            for path in discover_workflows(folder):
                with contextlib.suppress(WorkflowError, OSError):
                    found.setdefault(load_workflow(path).name, str(path))
        store = await open_store(args)
        try:
            for run in await store.list_runs(limit=200):
                found.setdefault(run.workflow, "in the history")
        finally:
            await store.close()
        return sorted(found.items())
    store = await open_store(args)
    try:
        if args.kind in ("runs", "held-runs"):
            held = args.kind == "held-runs"
            statuses = [RunStatus.HELD] if held else None
            runs = await store.list_runs(limit=RECENT_RUNS, statuses=statuses)
            words = [(str(r.id), f"{r.workflow} {r.status}") for r in runs]
            return words if held else [("last", "the newest run"), *words]
        if not args.run:
            return []
        run = await resolve_run(store, args.run)
        steps = await store.get_steps(run.id)
        if args.kind == "held":
            steps = [s for s in steps if s.status == StepStatus.HELD]
        return [(s.name, str(s.status)) for s in steps]
    except Exception:  # a completion never prints an error into the command line
        return []
    finally:
        await store.close()
