"""Time the DAG layout and its painting on random layered graphs with skip edges.

python benchmarks/dag_render.py
"""

from __future__ import annotations

import random
import sys
import time
from collections.abc import Callable
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from flowtui.tui.dag_layout import compute_layout, render_lines, render_row
from flowtui.tui.glyphs import glyph

SIZES = (100, 500, 2000)
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


def measure(steps: int) -> tuple[float, float, float, str]:
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

    return layout_ms, render_ms, best_ms(rerender), f"{layout.width}x{layout.height}"


def main() -> None:
    print(f"{'steps':>6} {'layout ms':>10} {'render ms':>10} {'re-render ms':>13} {'canvas':>12}")
    for steps in SIZES:
        layout_ms, render_ms, rerender_ms, size = measure(steps)
        print(f"{steps:>6} {layout_ms:>10.1f} {render_ms:>10.1f} {rerender_ms:>13.3f} {size:>12}")


if __name__ == "__main__":
    main()
