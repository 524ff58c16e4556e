"""Workflow, step and trigger types, and loading them from YAML with file:line errors."""
