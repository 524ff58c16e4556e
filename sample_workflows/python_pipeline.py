"""A workflow written in Python (docs/python-workflows.md).

flowtui evaluates this file in a process of its own and loads what it declares like a YAML
workflow.  `count` is a script; `total` is a Python function that runs as a `python` step
(its returned dict becomes its outputs); `report` reads them as $STEPS_TOTAL_*.
"""

from typing import Any

from flowtui.workflows import Workflow

wf = Workflow(
    "python_pipeline",
    description="Count, add up in Python, report: a workflow written in Python.",
    params={"base": {"default": "40", "description": "added to the count"}},
)

count = wf.script("count", run='echo "files=2" >> "$FLOWTUI_OUTPUT"', timeout="1m")


@wf.step(requires=[count], timeout="1m")
def total(ctx: Any) -> dict[str, Any]:
    """Add the parameter to what `count` found."""
    value = int(ctx.params["base"]) + int(ctx.outputs["count"]["files"])
    ctx.log.info("total %d", value)
    return {"sum": value}


wf.script("report", run='echo "total: $STEPS_TOTAL_SUM"', requires=[total], timeout="1m")
