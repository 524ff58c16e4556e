"""Running a one-command bash `run:` text without bash, as GNU make does (issue #18).

A `run:` text that is one simple command made only of plain words — `true`, `make -C
build all`, `./deploy.sh --env=prod` — means the same to bash as executing that program
directly, and bash itself does exactly that (for `bash -c TEXT` with one simple command
it execs the program in its own process, without forking).  Starting bash first costs
about a millisecond of CPU per step, so such a text is executed directly: the same
program (found the same way on `$PATH`), the same arguments, environment, working folder,
process (and so exit code, signals, process group and sandbox).

Everything else goes to `bash -eo pipefail -c TEXT` as before.  A text takes the direct
way only when all of this holds (`direct_command` returns None otherwise):

- every character is an ASCII letter, digit, space, tab or one of ``_@%+=:,./-`` — no
  quotes, `$`, backquote, glob (`*?[`), brace, tilde, redirection, pipe, `;`, `&`, `(`,
  `!`, `#`, backslash or newline: nothing bash would expand, split differently or
  interpret (shlex.quote leaves words of these characters unquoted for the same reason);
- the first word has no `=` (`NAME=value cmd` is an assignment) and is not a bash keyword
  or builtin (`cd`, `export`, `exit`, `set`, `.`, `test`, `[`, `pwd`, `printf`, `kill`,
  `time`, `if`, ...: `SHELL_WORDS`), except the three in `SAME_AS_PROGRAM` with the
  arguments for which the program on disk behaves as the builtin:
  `true` and `false` with no arguments (GNU `true --help` prints help, the builtin does
  not) and `echo` when no argument starts with `-` (no option, and with no backslash in
  the text no escape either: both print the words joined by spaces and a newline);
- no exported bash function is in the environment (`BASH_FUNC_*`: it could shadow the
  program, and bash rewrites its text), nor any variable bash reads at start-up or sets
  itself when it is inherited (`BASH_ENV`, `SHELLOPTS`, `IFS`, `OPTIND`, `LINENO`, …:
  `BASH_MANAGED`), and bash starts quietly with the environment's locale (it warns about
  an LC_ALL that is not installed; asked of bash once per process and value);
- the program is found: a name without `/` on a `$PATH` made only of absolute folders
  (searched in order, first executable regular file, as bash does), or a path with `/`
  (relative to the step's working folder); and it is an ELF binary or starts with `#!`
  (a text file without `#!` is run by bash as a shell script, so it goes to bash).  A
  program that is missing or not executable goes to bash, which then fails with its own
  message and exit code (127 `bash: line 1: NAME: command not found`, 126 `Permission
  denied`), so those stay exactly as they were;
- `SHLVL` is absent or a plain number below 999 (bash rewrites any other value, and
  warns when it is too high).

bash also changes a few variables before it executes the program; the direct way makes
the same changes: `_` is the program's path as bash found it, `PWD` is kept when it is an
absolute path of the working folder and otherwise becomes the folder's physical path,
`OLDPWD` is kept only when it names a folder, `PS1` and `PS2` are dropped (no prompts
without a terminal), `PS4` becomes `+ ` and `SHLVL` is written as bash writes it (absent:
`0`).
`tests/engine/test_directexec.py` runs each case both ways and compares exit code,
stdout and stderr.
"""

from __future__ import annotations

import functools
import itertools
import os
import re
import shutil
import stat
import subprocess
from collections.abc import Callable, Iterable, Mapping

from msgspec import Struct


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# bash 5.2: `compgen -k` and `compgen -b`
SHELL_KEYWORDS = _words(
    "if then else elif fi case esac for select while until do done in function time "
    "{ } ! [[ ]] coproc"
)
SHELL_BUILTINS = _words(
    ". : [ alias bg bind break builtin caller cd command compgen complete compopt continue "
    "declare dirs disown echo enable eval exec exit export false fc fg getopts hash help "
    "history jobs kill let local logout mapfile popd printf pushd pwd read readarray "
    "readonly return set shift shopt source suspend test times trap true type typeset "
    "ulimit umask unalias unset wait"
)
SHELL_WORDS = SHELL_KEYWORDS | SHELL_BUILTINS

# builtins whose program on disk (coreutils) does the same with these arguments
SAME_AS_PROGRAM: dict[str, Callable[[list[str]], bool]] = {
    "true": lambda args: not args,
    "false": lambda args: not args,
    "echo": lambda args: not any(a.startswith("-") for a in args),
}

# variables bash reads at start-up (they could change what the command means) or sets
# itself when they are inherited (the program would see another value): found by running
# `env` under bash 5.2 with each one set
BASH_MANAGED = _words(
    "BASH_ENV SHELLOPTS BASHOPTS IFS POSIXLY_CORRECT BASH_COMPAT BASH_XTRACEFD "
    "BASH BASHPID BASH_ARGV0 BASH_COMMAND BASH_EXECUTION_STRING BASH_SUBSHELL "
    "BASH_VERSINFO BASH_VERSION COMP_WORDBREAKS EPOCHREALTIME EPOCHSECONDS HISTCMD "
    "LINENO OPTERR OPTIND PPID RANDOM SRANDOM"
)
_PLAIN = re.compile(r"[ \t]*[A-Za-z0-9_@%+=:,./-]+(?:[ \t]+[A-Za-z0-9_@%+=:,./-]+)*[ \t]*")
_SHLVL = re.compile(r"[0-9]{1,3}")
_RUNNABLE = (b"\x7fELF", b"#!")
_BASH_FUNC = itertools.repeat("BASH_FUNC_")  # exported functions: str.startswith of each name


class DirectCommand(Struct, frozen=True):
    """A program to execute instead of bash: `executable` with `argv` (argv[0] the word as
    written, as bash passes it) and bash's changes to the environment made."""

    executable: str
    argv: list[str]
    env: dict[str, str]


def direct_command(
    text: str,
    env: Mapping[str, str],
    cwd: str,
    hidden: Iterable[str] = (),
    uncovered: str | None = None,
) -> DirectCommand | None:
    """`text` as a program to execute directly, or None when it must go to bash.  `hidden`:
    the paths the step's sandbox covers but `uncovered` (its run's workspace): a program
    there is not there for the step, so bash is left to say so."""
    if not _PLAIN.fullmatch(text):
        return None
    words = text.split()
    name, args = words[0], words[1:]
    if "=" in name:
        return None
    if name in SHELL_WORDS:
        same = SAME_AS_PROGRAM.get(name)
        if same is None or not same(args):
            return None
    if not BASH_MANAGED.isdisjoint(env) or any(map(str.startswith, env, _BASH_FUNC)):
        return None
    if not _quiet_locale(env):
        return None
    level = env.get("SHLVL")
    if level is not None and not (_SHLVL.fullmatch(level) and int(level) < 999):
        return None
    program = _find(name, env, cwd)
    if program is None:
        return None
    if hidden:
        real = _real(os.path.join(cwd, program))
        covered = any(_within(real, _real(h)) for h in hidden)
        if covered and not (uncovered and _within(real, _real(uncovered))):
            return None
    out = dict(env)
    out["_"] = program
    out["SHLVL"] = str(int(level)) if level is not None else "0"
    if not os.path.isdir(out.get("OLDPWD") or "\0"):
        out.pop("OLDPWD", None)
    out.pop("PS1", None)  # a shell that is not interactive has no prompts
    out.pop("PS2", None)
    if "PS4" in out:
        out["PS4"] = "+ "
    pwd = out.get("PWD")
    if not (pwd and os.path.isabs(pwd) and _same_folder(pwd, cwd)):
        out["PWD"] = os.path.realpath(cwd)
    return DirectCommand(program, words, out)


def _find(name: str, env: Mapping[str, str], cwd: str) -> str | None:
    if "/" in name:
        return name if _runnable(os.path.join(cwd, name)) else None  # bash tells what is wrong
    path = env.get("PATH")
    if not path:
        return None  # bash would use its own default PATH
    for folder in _folders(path):
        if folder is None:
            return None  # "" or a relative folder: the step's cwd; leave it to bash
        candidate = folder + name
        runnable = _runnable(candidate)
        if runnable is not None:
            return candidate if runnable else None
    return None


@functools.lru_cache(maxsize=64)
def _folders(path: str) -> tuple[str | None, ...]:
    """$PATH's folders, each ending with "/", in order; None for one that is not absolute
    (the search stops there).  Worked out once per $PATH: a step asks it every time."""
    return tuple(
        (folder if folder.endswith("/") else folder + "/") if os.path.isabs(folder) else None
        for folder in path.split(":")
    )


# path -> (inode, size, mtime) of the file last found to be an ELF binary or `#!` script
_checked: dict[str, tuple[int, int, int]] = {}


def _runnable(path: str) -> bool | None:
    """None: not an executable regular file (bash would look further on $PATH); else
    whether the kernel runs it itself (ELF or `#!`)."""
    try:
        # access() first: most of $PATH has no such file, and a False costs no exception
        if not os.access(path, os.X_OK):
            return None
        st = os.stat(path)
    except (OSError, ValueError):
        return None
    if not stat.S_ISREG(st.st_mode):
        return None
    key = (st.st_ino, st.st_size, st.st_mtime_ns)
    if _checked.get(path) == key:
        return True
    try:
        with open(path, "rb") as f:
            head = f.read(4)
    except OSError:
        return False
    if not head.startswith(_RUNNABLE):
        return False
    _checked[path] = key
    return True


_LOCALES: dict[str, bool] = {"": True, "C": True, "POSIX": True}


def _quiet_locale(env: Mapping[str, str]) -> bool:
    """Whether bash starts without a word on stderr with this environment's locale: it
    warns (`setlocale: LC_ALL: cannot change locale`) when LC_ALL names one that is not
    installed (LANG and the other LC_* it takes silently).  Asked of bash itself, once
    per process and value."""
    wanted = env.get("LC_ALL", "")
    quiet = _LOCALES.get(wanted)
    if quiet is None:
        bash = shutil.which("bash", path=env.get("PATH"))
        if bash is None:
            return False
        probe = subprocess.run(
            [bash, "-c", ":"],
            env={"PATH": os.defpath, "LC_ALL": wanted},
            stdin=subprocess.DEVNULL,
            capture_output=True,
            check=False,
        )
        quiet = _LOCALES[wanted] = probe.returncode == 0 and not probe.stderr
    return quiet


@functools.lru_cache(maxsize=256)
def _real(path: str) -> str:
    """The sandbox's paths and the programs found, resolved once: a wrong answer here
    only sends a program inside them to bash (which then says it is not there), or runs
    one there directly, which the sandbox refuses (it then goes to bash all the same);
    never out of the sandbox."""
    return os.path.realpath(path)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder.rstrip("/") + "/")


def _same_folder(a: str, b: str) -> bool:
    try:
        return os.path.samefile(a, b)
    except OSError:
        return False


__all__ = ["BASH_MANAGED", "SAME_AS_PROGRAM", "SHELL_WORDS", "DirectCommand", "direct_command"]
