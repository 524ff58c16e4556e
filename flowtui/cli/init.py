"""`flowtui init [DIR]`: a `workflows/` folder with one small example to start from.

The example runs on this machine with nothing installed: a plan step that writes an
output, an approval gate that shows it, and an apply step. Existing files are never
overwritten: a file already there is left as it is and said so.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from flowtui.cli.commands import CliError

EXAMPLE_NAME = "hello-deploy.yaml"
EXAMPLE = """\
# A first flowtui workflow: plan -> approve -> apply, all on this machine.
# Run it:      flowtui run hello-deploy
# Watch it:    flowtui            (the dashboard; `a` approves the held step)
name: hello-deploy
description: plans a change, waits for a person to approve it, then applies it

# values a run can set: flowtui run hello-deploy -p target=staging
# (steps see them as $PARAM_TARGET)
params:
  target: {default: local}

steps:
  plan:
    # a shell script; `key=value` lines appended to $FLOWTUI_OUTPUT are the step's
    # outputs, and `summary` is shown next to the step
    run: |
      echo "planning the change for $PARAM_TARGET"
      echo "summary=1 file to write in $PARAM_TARGET" >> "$FLOWTUI_OUTPUT"

  approve:
    # holds the run until someone approves: flowtui approve last
    type: approval
    requires: [plan]
    message: "Read the plan above, then approve to apply it."

  apply:
    requires: [approve]
    # steps share the run's workspace folder ($FLOWTUI_WORKSPACE)
    run: |
      echo "applying to $PARAM_TARGET"
      date > "$FLOWTUI_WORKSPACE/applied.txt"
      echo "summary=wrote applied.txt in the run's workspace" >> "$FLOWTUI_OUTPUT"
"""

NEXT = """\
next:
  flowtui run hello-deploy          # runs plan, then holds at approve
  flowtui approve last              # from another terminal: apply runs
  flowtui                           # the dashboard: the DAG, logs and history
  flowtui validate workflows/       # check your own workflow files"""


def cmd_init(args: argparse.Namespace) -> int:
    root = Path(args.dir)
    if root.exists() and not root.is_dir():
        raise CliError(f"{root} is a file, not a folder")
    folder = root / "workflows"
    target = folder / EXAMPLE_NAME
    if folder.exists() and not folder.is_dir():
        raise CliError(f"{folder} is a file; flowtui looks for workflows in a folder of that name")
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with target.open("x", encoding="utf-8") as out:  # "x": never overwrite
            out.write(EXAMPLE)
    except FileExistsError:
        print(f"{target} already exists: left as it is")
    except OSError as exc:
        raise CliError(f"cannot write {target}: {exc.strerror or exc}") from None
    else:
        print(f"wrote {target}")
    if root != Path("."):
        print(f"  cd {root}")
    print(NEXT)
    return 0
