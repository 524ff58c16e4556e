"""An open event stream of a run waiting for approval does not hold `flowtui serve`'s
SIGTERM up: the stream ends, the service cancels the run and exits."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import pytest

from tests.api.conftest import WORKFLOWS, serving


def test_sigterm_ends_open_event_streams(tmp_path: Path) -> None:
    with serving(tmp_path, {"gated.yaml": WORKFLOWS["gated.yaml"]}) as served:
        run_id = served.start("gated")
        served.wait_step(run_id, "approve", "held")
        opened, received = threading.Event(), []

        def listen() -> None:
            with served.client("reader").stream("GET", f"/api/v1/runs/{run_id}/events") as answer:
                for line in answer.iter_lines():
                    opened.set()
                    received.append(line)

        reader = threading.Thread(target=listen, daemon=True)
        reader.start()
        assert opened.wait(20)
        served.proc.send_signal(signal.SIGTERM)
        # aiohttp would wait 60 s for a handler still streaming; the stream ends first
        assert served.proc.wait(timeout=30) == 0
        reader.join(timeout=10)
        assert not reader.is_alive() and "event: run" in received
        served.lines.wait_for(rf"gated: run {run_id} cancelled")


pytestmark = pytest.mark.timeout(90)
