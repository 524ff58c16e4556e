"""Callables for python-report.yaml: each takes the step context and returns its outputs."""

from __future__ import annotations

import asyncio
import json
import random
from typing import Any


def collect(ctx: Any) -> dict[str, Any]:
    """Pretend to gather metrics; write them to the run's workspace for the next step."""
    rng = random.Random(ctx.args.get("seed", 1))
    rows = [{"region": r, "requests": rng.randint(900, 1500)} for r in ctx.args["regions"]]
    (ctx.workspace / "metrics.json").write_text(json.dumps(rows))
    ctx.log.info("collected %d regions for %s", len(rows), ctx.params["period"])
    return {"regions": len(rows), "total": sum(r["requests"] for r in rows)}


async def summarise(ctx: Any) -> dict[str, Any]:
    """An async callable: read what `collect` left in the workspace and summarise it."""
    await asyncio.sleep(0.1)
    rows = json.loads((ctx.workspace / "metrics.json").read_text())
    busiest = max(rows, key=lambda r: r["requests"])
    for row in rows:
        print(f"{row['region']:>4}  {row['requests']:>6}")
    total = ctx.outputs["collect"]["total"]
    return {
        "busiest": busiest["region"],
        "summary": f"{total} requests, busiest {busiest['region']}",
    }
