"""Time the DAG layout and its painting on random layered graphs with skip edges.

    python benchmarks/dag_render.py [--sizes 100,500,2000]

Columns: the layout (once per graph; the widget caches it by graph), a full paint of every
line, the repaint of one box after a status change (no new layout), and readability checks
on the result: no two boxes overlap, every step's box is drawn, and no edge cell is drawn
under a box.  The bar is layout + full paint ≤ 50 ms at 500 steps.
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowtui.tui.dag_layout import DagLayout, compute_layout, render_lines, render_row
from flowtui.tui.glyphs import glyph

BAR_STEPS, BAR_MS = 500, 50.0
STATUSES = ("pending", "running", "succeeded", "failed", "held", "skipped")


def random_layered_dag(steps: int, seed: int) -> list[tuple[str, list[str]]]:
    """About √steps-wide layers; each step needs 1-3 earlier steps, a fifth of them far back."""
    rng = random.Random(seed)
    width = max(2, int(steps**0.5))
    nodes: list[tuple[str, list[str]]] = []
    layers: list[list[str]] = []
    while len(nodes) < steps:
        layer: list[str] = []
        for _ in range(min(rng.randint(1, width), steps - len(nodes))):
            name = f"step_{len(nodes):04d}"
            requires: set[str] = set()
            if layers:
                for _ in range(rng.randint(1, 3)):
                    far = len(layers) > 1 and rng.random() < 0.2
                    back = rng.randint(2, min(5, len(layers))) if far else 1
                    requires.add(rng.choice(layers[-back]))
            nodes.append((name, sorted(requires)))
            layer.append(name)
        layers.append(layer)
    return nodes


def best_ms(fn: Callable[[], object], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best * 1000


def measure(steps: int) -> tuple[float, float, float, str, str]:
    nodes = random_layered_dag(steps, seed=steps)
    rng = random.Random(1)
    states = {name: rng.choice(STATUSES) for name, _ in nodes}
    layout_ms = best_ms(lambda: compute_layout(nodes))
    layout = compute_layout(nodes)
    render_ms = best_ms(lambda: render_lines(layout, states, None, glyph))
    changed = nodes[len(nodes) // 2][0]

    def rerender() -> None:
        # what the widget does on a status change: repaint only that box's lines
        states[changed] = "succeeded" if states[changed] != "succeeded" else "failed"
        for y in layout.rows_of(changed):
            render_row(layout, y, states, None, glyph)

    size = f"{layout.width}x{layout.height}"
    return layout_ms, render_ms, best_ms(rerender), size, readability(layout, states)


def readability(layout: DagLayout, states: dict[str, str]) -> str:
    """'ok', or the first problem found: overlapping boxes, a missing box, an edge under a box."""
    boxes = sorted(layout.boxes.values(), key=lambda b: (b.x, b.y))
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            if b.x >= a.x + a.w:
                break  # sorted by x: nothing further right can overlap `a`
            if b.y < a.y + a.h and a.y < b.y + b.h:
                return f"boxes {a.name} and {b.name} overlap"
    for box in boxes:
        for y in range(box.y, box.y + box.h):
            if layout.edge_rows[y][box.x : box.x + box.w].strip():
                return f"an edge runs under {box.name}"
    text = "\n".join(
        "".join(t for t, _ in line) for line in render_lines(layout, states, None, glyph)
    )
    missing = [b.name for b in boxes if b.label.rstrip("…") not in text]
    return f"box {missing[0]} not drawn" if missing else "ok"


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--sizes", default="100,500,2000")
    args = parser.parse_args()
    header = f"{'steps':>6} {'layout ms':>10} {'render ms':>10} {'re-render ms':>13}"
    print(header + f" {'canvas':>12} {'÷bar':>6} {'readable':>9}")
    for steps in (int(x) for x in args.sizes.split(",")):
        layout_ms, render_ms, rerender_ms, size, readable = measure(steps)
        ratio = (layout_ms + render_ms) / BAR_MS
        print(
            f"{steps:>6} {layout_ms:>10.1f} {render_ms:>10.1f} {rerender_ms:>13.3f} {size:>12}"
            f" {ratio:>5.2f}x {readable:>9}"
        )
    print(f"bar: layout + render ≤ {BAR_MS:.0f} ms at {BAR_STEPS} steps (÷bar ≤ 1.00x)")


if __name__ == "__main__":
    main()
