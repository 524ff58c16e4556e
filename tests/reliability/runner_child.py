"""A flowtui runner process for fault-injection tests.

Usage: runner_child.py DB WORKFLOW [BLOCK_SECONDS]

Runs the workflow with a 0.1 s heartbeat and prints `running RUN_ID` once a step's
process is recorded.
With BLOCK_SECONDS it then blocks its own event loop that long (a long synchronous call),
printing `blocking` and `unblocked`.  Prints `final STATUS` at the end.
"""

from __future__ import annotations

import asyncio
import sys
import time

from flowtui.engine.bus import EventBus
from flowtui.engine.events import Event, StepProcess
from flowtui.engine.runner import RunnerOptions
from flowtui.model.loader import load_workflow
from flowtui.runtime import build_runner
from flowtui.store import RunStore
from flowtui.store.sink import StoreSink


async def main(db: str, flow: str, block: float) -> None:
    store = await RunStore.open(db)
    bus = EventBus()
    sink = StoreSink(store, bus)
    sink.start()
    running = asyncio.Event()

    def on_event(event: Event) -> None:
        if isinstance(event, StepProcess):
            running.set()

    bus.add_listener(on_event)
    options = RunnerOptions(heartbeat_interval=0.1, kill_grace=1.0, poll_interval=0.05)
    runner = build_runner(store, bus, options)
    await runner.start()
    handle = await runner.submit(load_workflow(flow))
    await running.wait()
    await sink.flush()
    print(f"running {handle.run_id}", flush=True)
    if block:
        print("blocking", flush=True)
        time.sleep(block)  # the fault under test: a blocked event loop
        print("unblocked", flush=True)
    status = await handle.wait()
    await runner.close()
    await sink.close()
    await store.close()
    print(f"final {status}", flush=True)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], float(sys.argv[3]) if len(sys.argv) > 3 else 0))
