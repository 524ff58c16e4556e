"""`flowtui graph FILE|NAME|RUN`: the step graph outside the dashboard.

The drawing is the dashboard's own (`flowtui.tui.dag_layout`, a pure module: no Textual is
imported here): boxes left to right, or one line per step by layer when the boxes are wider
than the terminal (`--boxes` / `--compact` choose).  Given a run, each step shows its state
and time.  `--mermaid` prints a Mermaid flowchart instead, states as classes.
"""

from __future__ import annotations

import argparse
import asyncio
import re
import shutil
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path

from flowtui.cli.commands import CliError, find_workflow, open_store, resolve_run, search_dirs
from flowtui.cli.console import COLOURS, Painter, shown, use_colour
from flowtui.glyphs import GLYPHS
from flowtui.timefmt import fmt_duration
from flowtui.tui.dag_layout import (
    NodeSpec,
    Segments,
    compute_compact,
    compute_layout,
    render_compact,
    render_lines,
)

_RUN_REF = re.compile(r"#?\d+|last")

# Mermaid class per status: fill, stroke, text (light enough for both page themes)
MERMAID_CLASSES: dict[str, str] = {
    "succeeded": "fill:#d3f9d8,stroke:#2b8a3e,color:#1b4332",
    "reused": "fill:#d0ebff,stroke:#1c7ed6,color:#0b3d66",
    "running": "fill:#d0ebff,stroke:#1971c2,color:#0b3d66,stroke-width:2px",
    "held": "fill:#fff3bf,stroke:#f08c00,color:#5c3c00",
    "failed": "fill:#ffe3e3,stroke:#c92a2a,color:#5c0011",
    "timed_out": "fill:#ffe3e3,stroke:#c92a2a,color:#5c0011",
    "rejected": "fill:#ffe3e3,stroke:#c92a2a,color:#5c0011",
    "allowed_failure": "fill:#fff3bf,stroke:#e67700,color:#5c3c00",
    "cancelled": "fill:#f3d9fa,stroke:#862e9c,color:#3b0a45",
    "interrupted": "fill:#f3d9fa,stroke:#862e9c,color:#3b0a45",
}


def cmd_graph(args: argparse.Namespace) -> int:
    nodes, states, durations = asyncio.run(_graph_of(args))
    if args.mermaid:
        print("\n".join(mermaid_lines(nodes, states, durations)))
        return 0
    paint = Painter(use_colour(sys.stdout))
    try:
        layout = compute_layout(nodes)
    except ValueError as exc:
        raise CliError(f"{args.target}: {exc}") from None
    compact = args.compact or (
        not args.boxes and layout.width > shutil.get_terminal_size((80, 24)).columns
    )
    glyph_for = _glyph
    if compact:
        lines = render_compact(compute_compact(nodes), states, None, glyph_for, durations)
    else:
        lines = render_lines(layout, states, None, glyph_for, durations)
    for line in lines:
        print(_painted(line, paint).rstrip())
    return 0


async def _graph_of(
    args: argparse.Namespace,
) -> tuple[list[NodeSpec], dict[str, str], dict[str, str]]:
    """(nodes, states, durations): a run's when the target names one, else the file's.

    A number (`42`, `#42`) or `last` is a run unless a file of that name exists;
    `--workflow NAME` always means the workflow."""
    if (args.target is None) == (args.workflow is None):
        raise CliError("give FILE|NAME|RUN, or --workflow NAME (one of them)")
    if args.workflow is not None:
        args.target = args.workflow
        workflow = find_workflow(args.workflow, search_dirs(args))
        return [(step.name, tuple(step.requires)) for step in workflow.steps.values()], {}, {}
    target: str = args.target
    if _RUN_REF.fullmatch(target) and not Path(target).exists():
        store = await open_store(args, read_only=True)
        try:
            try:
                run = await resolve_run(store, target)
            except CliError as exc:
                raise CliError(
                    f"{exc} (a number or `last` is read as a run; for the workflow named "
                    f"{target}, use --workflow {target})"
                ) from None
            steps = await store.get_steps(run.id)
        finally:
            await store.close()
        nodes: list[NodeSpec] = [(s.name, tuple(s.requires)) for s in steps]
        states = {s.name: shown(s, run) for s in steps}
        durations = {s.name: fmt_duration(took) for s in steps if (took := s.elapsed()) is not None}
        return nodes, states, durations
    workflow = find_workflow(target, search_dirs(args))
    nodes = [(step.name, tuple(step.requires)) for step in workflow.steps.values()]
    return nodes, {}, {}


def _glyph(status: str) -> str:
    return GLYPHS.get(status, " ")


def _painted(segments: Segments, paint: Painter) -> str:
    out = []
    for text, role in segments:
        parts = role.split()
        if len(parts) >= 2 and parts[0] in ("border", "glyph"):
            out.append(paint(text, COLOURS.get(parts[1], "")))
        elif parts and parts[0] in ("edge", "layer"):
            out.append(paint(text, "2") if text.strip() else text)
        else:
            out.append(text)
    return "".join(out)


def _mermaid_label(text: str) -> str:
    return text.replace("&", "#amp;").replace('"', "#quot;").replace("<", "#lt;")


def mermaid_lines(
    nodes: Sequence[NodeSpec], states: Mapping[str, str], durations: Mapping[str, str]
) -> list[str]:
    """A `flowchart LR` with one node per step (ids n0, n1, … so any name is safe)."""
    ids = {name: f"n{i}" for i, (name, _) in enumerate(nodes)}
    out = ["flowchart LR"]
    for name, _ in nodes:
        label = name
        if name in states:
            label = f"{GLYPHS.get(states[name], '')} {name}".strip()
        if name in durations:
            label += f" · {durations[name]}"
        out.append(f'    {ids[name]}["{_mermaid_label(label)}"]')
    for name, requires in nodes:
        for required in requires:
            if required in ids:
                out.append(f"    {ids[required]} --> {ids[name]}")
    used = sorted({states[name] for name, _ in nodes if name in states})
    for status in used:
        style = MERMAID_CLASSES.get(status, "fill:#f1f3f5,stroke:#868e96,color:#343a40")
        out.append(f"    classDef {status} {style}")
    for status in used:
        members = ",".join(ids[name] for name, _ in nodes if states.get(name) == status)
        out.append(f"    class {members} {status}")
    return out
