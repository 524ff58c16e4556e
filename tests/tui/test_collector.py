"""The dashboard's full garbage collections wait for a moment without keys (issue #18).

A real collector and real garbage: a reference cycle old enough for the oldest generation
is freed only by a full collection, which `IdleCollector.tick` makes once no key came for
`QUIET` seconds (or `LATEST` passed); CPython's own full collections are off meanwhile and
back once the app ends."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowtui.tui import collector
from flowtui.tui.app import FlowApp
from flowtui.tui.collector import NEVER, IdleCollector


class Node:
    def __init__(self) -> None:
        self.other: Node | None = None


def old_cycle() -> weakref.ref[Node]:
    """A cycle that reached the oldest generation, then became garbage."""
    a, b = Node(), Node()
    a.other, b.other = b, a
    gc.collect(1)  # still referred to: moved on to the oldest generation
    return weakref.ref(a)


@pytest.fixture
def idle() -> Iterator[IdleCollector]:
    before = gc.get_threshold()
    made = IdleCollector()
    made.start()
    yield made
    made.stop()
    gc.unfreeze()
    assert gc.get_threshold() == before


def test_no_full_collection_while_keys_come_one_once_they_stop(
    idle: IdleCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    assert gc.get_threshold()[2] == NEVER
    monkeypatch.setattr(collector, "FULL_EVERY", 0.0)
    monkeypatch.setattr(collector, "QUIET", 3600.0)
    garbage = old_cycle()
    for _ in range(5):  # the youngest generations are still collected
        gc.collect(1)
    idle.saw_input()
    assert not idle.tick()
    assert garbage() is not None  # only a full collection frees it
    monkeypatch.setattr(collector, "QUIET", 0.0)
    assert idle.tick()
    assert garbage() is None
    assert idle.full_collections == 1


def test_a_stream_of_keys_holds_it_off_only_until_latest(
    idle: IdleCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "FULL_EVERY", 0.0)
    monkeypatch.setattr(collector, "QUIET", 3600.0)
    monkeypatch.setattr(collector, "LATEST", 0.0)
    garbage = old_cycle()
    idle.saw_input()
    assert idle.tick()
    assert garbage() is None


def test_not_more_often_than_full_every(
    idle: IdleCollector, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(collector, "QUIET", 0.0)
    monkeypatch.setattr(collector, "FULL_EVERY", 3600.0)
    assert not idle.tick()


async def test_the_dashboard_holds_full_collections_while_open(tmp_path: Path) -> None:
    (tmp_path / "wfs").mkdir()
    (tmp_path / "wfs" / "hello.yaml").write_text("name: hello\nsteps:\n  a: {run: 'true'}\n")
    before = gc.get_threshold()
    app = FlowApp(tmp_path / "wfs", db_path=tmp_path / "h.db", watch=False, triggers=False)
    try:
        async with app.run_test(size=(120, 40)) as pilot:
            await app.ready.wait()
            assert app.collector.started
            # and its runs' steps are started by their spawner, none forked from this process
            assert app.runner is not None and app.runner.options.spawner_first
            assert gc.get_threshold()[2] == NEVER
            quiet_since = app.collector._last_input
            await pilot.press("down")
            assert app.collector._last_input > quiet_since  # a key holds the next one off
            assert gc.get_freeze_count() > 0
        assert gc.get_threshold() == before
        assert gc.get_freeze_count() == 0  # what it froze is collectable again
    finally:
        gc.unfreeze()
