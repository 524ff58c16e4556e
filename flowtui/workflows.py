"""Workflows written in Python: `from flowtui.workflows import Workflow`.

See docs/python-workflows.md.  A `*.py` file of a workflow folder that imports this module
is a workflow file: flowtui evaluates it in a process of its own and loads what it declares
like a YAML workflow.
"""

from flowtui.model.pyapi import DefinitionError, StepOptions, StepRef, Workflow

__all__ = ["DefinitionError", "StepOptions", "StepRef", "Workflow"]
