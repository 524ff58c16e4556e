"""Cron triggers with an injectable clock: on time, missed (catchup on/off), time zones,
two services on one database, a paused workflow."""

from __future__ import annotations

from datetime import UTC, datetime

from flowtui.triggers import cron
from tests.triggers.helpers import Clock, Env, runs_of, wait_final, wait_until

NIGHTLY = """\
    name: nightly
    triggers:
      - cron: "0 3 * * *"
        {extra}
    steps:
      backup: {{run: "echo at $PARAM_SCHEDULED_AT"}}
"""


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def test_decide_on_time_fires_and_nothing_due_waits() -> None:
    last = at("2026-03-01T02:00:00")
    assert cron.decide("0 3 * * *", last=last, now=at("2026-03-01T02:59:59")).due is None
    d = cron.decide("0 3 * * *", last=last, now=at("2026-03-01T03:00:00"))
    assert d.fire and not d.missed and d.due == at("2026-03-01T03:00:00")


def test_decide_missed_fires_only_with_catchup_and_only_the_newest() -> None:
    last = at("2026-03-01T03:00:00")  # handled; then the service was down three days
    now = at("2026-03-04T05:00:00")
    skip = cron.decide("0 3 * * *", last=last, now=now, catchup=False)
    assert skip.missed and not skip.fire and skip.due == at("2026-03-04T03:00:00")
    catch = cron.decide("0 3 * * *", last=last, now=now, catchup=True)
    assert catch.missed and catch.fire and catch.due == at("2026-03-04T03:00:00")


def test_decide_honours_the_time_zone() -> None:
    # 03:00 in Paris is 02:00 UTC in winter, 01:00 UTC in summer
    last = at("2026-01-10T00:00:00")
    d = cron.decide("0 3 * * *", last=last, now=at("2026-01-10T02:00:10"), timezone="Europe/Paris")
    assert d.fire and d.due == at("2026-01-10T02:00:00")
    summer = cron.next_fire("0 3 * * *", at("2026-07-10T00:00:00"), "Europe/Paris")
    assert summer == at("2026-07-10T01:00:00")
    assert cron.next_fire("0 3 * * *", at("2026-07-10T00:00:00")) == at("2026-07-10T03:00:00")


async def test_service_fires_once_on_time_and_runs_the_workflow(env: Env) -> None:
    env.write("nightly.yaml", NIGHTLY.format(extra=""))
    clock = Clock(at("2026-03-01T02:59:00"))
    service = await env.service(start=False, now=clock)
    assert await service.cron_tick() == []  # first sight: remembers "now", fires nothing
    clock.value = at("2026-03-01T03:00:01")
    [event] = await service.cron_tick()
    assert event.outcome == "fired" and event.run_id is not None
    assert await service.cron_tick() == []  # the same fire time never fires twice
    run = await wait_final(service.store, event.run_id)
    assert run.trigger == "cron" and run.status == "succeeded"
    assert run.params["scheduled_at"] == "2026-03-01T03:00:00+00:00"


async def test_missed_fire_is_skipped_without_catchup_after_a_restart(env: Env) -> None:
    env.write("nightly.yaml", NIGHTLY.format(extra=""))
    clock = Clock(at("2026-03-01T02:00:00"))
    first = await env.service(start=False, now=clock)
    await first.cron_tick()
    # the service is down from 02:00 on day 1 to 05:00 on day 4; a new one starts
    clock.value = at("2026-03-04T05:00:00")
    second = await env.service(start=False, now=clock)
    [event] = await second.cron_tick()
    assert event.outcome == "ignored" and "missed" in event.detail and "catchup" in event.detail
    assert await runs_of(second.store, "nightly") == []
    clock.value = at("2026-03-05T03:00:05")  # the next regular fire is back to normal
    [event] = await second.cron_tick()
    assert event.outcome == "fired"


async def test_missed_fires_catch_up_once_with_catchup(env: Env) -> None:
    env.write("nightly.yaml", NIGHTLY.format(extra="catchup: true"))
    clock = Clock(at("2026-03-01T02:00:00"))
    await (await env.service(start=False, now=clock)).cron_tick()
    clock.value = at("2026-03-04T05:00:00")
    second = await env.service(start=False, now=clock)
    [event] = await second.cron_tick()
    assert event.outcome == "fired" and "catching up" in event.detail
    assert await second.cron_tick() == []
    assert len(await runs_of(second.store, "nightly")) == 1


async def test_two_services_on_one_database_fire_once(env: Env) -> None:
    env.write("nightly.yaml", NIGHTLY.format(extra="timezone: Europe/Paris"))
    clock = Clock(at("2026-01-10T01:00:00"))
    # two services with their own connections, each ticking on its own task
    a = await env.service(now=clock)
    b = await env.service(now=clock)
    await wait_until(lambda: a.triggers.get_state("cron:nightly:cron:0 3 * * *:Europe/Paris"))
    clock.value = at("2026-01-10T02:00:00")  # 03:00 in Paris
    fired = await wait_until(lambda: a.triggers.list_events("nightly", outcome="fired"))
    for service in (a, b):  # both have looked at the new time since
        await service.cron_tick()
    assert len(await runs_of(a.store, "nightly")) == 1
    assert [e.outcome for e in await a.triggers.list_events("nightly")] == ["fired"]
    assert fired[0].run_id is not None


async def test_paused_workflow_ignores_its_schedule(env: Env) -> None:
    env.write("nightly.yaml", NIGHTLY.format(extra=""))
    clock = Clock(at("2026-03-01T02:59:00"))
    service = await env.service(start=False, now=clock)
    await service.cron_tick()
    await service.store.set_paused("nightly", True)
    clock.value = at("2026-03-01T03:00:01")
    [event] = await service.cron_tick()
    assert event.outcome == "ignored" and "paused" in event.detail
    assert await runs_of(service.store, "nightly") == []
    [last] = await service.triggers.list_events("nightly")
    assert last.describe() == f"nightly: cron trigger ignored: {event.detail}"
