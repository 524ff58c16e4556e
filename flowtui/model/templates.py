"""Starting points for a new workflow file (the dashboard builder's "new workflow")."""

from __future__ import annotations

TEMPLATES: dict[str, str] = {
    "one step": """\
name: {name}
description: ""
steps:
  hello:
    run: echo "hello from {name}"
""",
    "build, test, deploy": """\
name: {name}
description: build, test, then deploy
steps:
  build:
    run: echo build
  test:
    requires: [build]
    run: echo test
  deploy:
    requires: [test]
    run: echo deploy
""",
    "plan, approve, apply": """\
name: {name}
description: plan, wait for a person, then apply
steps:
  plan:
    run: echo plan
  approve:
    type: approval
    requires: [plan]
    message: the plan looks right?
  apply:
    requires: [approve]
    run: echo apply
""",
}


def render(template: str, name: str) -> str:
    """The template's text for a workflow called `name` (a valid name: no quoting needed)."""
    return TEMPLATES[template].replace("{name}", name)


__all__ = ["TEMPLATES", "render"]
