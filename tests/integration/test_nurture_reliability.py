"""Nurture's durable timers under concurrency and crashes, with real processes: two
instances on one database emit each due step exactly once; kill -9 with 10,000 steps due,
then a restart, emits each step once in effect (a re-sent step keeps its id)."""

from __future__ import annotations

import asyncio
import collections
from datetime import UTC, datetime, timedelta

import httpx
import yaml

from services.nurture.events import step_id
from shared.events.registry import NURTURE_STEP
from shared.stack.common import free_port
from shared.stack.stack import SERVICES, ServiceProcess
from tests.kafka_helpers import TopicReader, value, wait_for
from tests.nurture_env import seed_due_steps
from tests.router_env import FIXTURES, sql

NURTURE = next(s for s in SERVICES if s.name == "nurture")


def start_nurture(
    env, log_dir, name="nurture", sequences=FIXTURES / "nurture-24x7.yaml"
) -> ServiceProcess:
    proc = ServiceProcess(
        NURTURE,
        env.env(
            LEADFLOW_NURTURE_SEQUENCES_FILE=str(sequences),
            LEADFLOW_NURTURE_CONSUMER_GROUP=f"{env.prefix}nurture",
            LEADFLOW_NURTURE_TICK_SECONDS="0.2",
        ),
        port=free_port(),
        log=log_dir / f"{name}.log",
    )
    proc.start()
    proc.wait_ready()
    return proc


async def emitted_when(env, count: int) -> int | None:
    n = (
        await sql(
            env, "SELECT count(*) FROM nurture.scheduled_step WHERE step = 1 AND state = 'emitted'"
        )
    )[0][0]
    return n if n >= count else None


async def outbox_empty(env) -> bool:
    return (await sql(env, "SELECT count(*) FROM nurture.outbox"))[0][0] == 0


def emitted_by(proc: ServiceProcess) -> float:
    text = httpx.get(f"{proc.url}/metrics", timeout=5).text
    return sum(
        float(line.rsplit(" ", 1)[1])
        for line in text.splitlines()
        if line.startswith("leadflow_nurture_steps_emitted_total{")
    )


async def test_two_instances_emit_each_due_step_exactly_once(env, tmp_path, stack):
    a = await asyncio.to_thread(start_nurture, env, tmp_path, "nurture-a")
    b = await asyncio.to_thread(start_nurture, env, tmp_path, "nurture-b")
    try:
        async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
            enrollments = await seed_due_steps(
                env.database_url, 4000, datetime.now(UTC) - timedelta(minutes=1)
            )
            await wait_for(lambda: emitted_when(env, 4000), timeout=180)
            await wait_for(lambda: outbox_empty(env), timeout=60)
            records = await steps.read(until=lambda rs: len(rs) >= 4000, timeout=60)
            records = await steps.read()  # all of it, to the end: anything more is a duplicate
            a_count, b_count = (
                await asyncio.to_thread(emitted_by, a),
                await asyncio.to_thread(emitted_by, b),
            )
    finally:
        await asyncio.to_thread(a.stop)
        await asyncio.to_thread(b.stop)
    ids = [value(r)["id"] for r in records]
    assert len(set(ids)) == 4000
    assert len(ids) == 4000, "no step went out twice, not even with the same id"
    assert set(ids) == {str(step_id(e, 1)) for e in enrollments}
    assert a_count > 0 and b_count > 0, "both instances took a share"
    assert a_count + b_count == 4000
    rows = await sql(
        env, "SELECT count(*) FROM nurture.scheduled_step WHERE step = 2 AND state = 'pending'"
    )
    assert rows[0][0] == 4000, "each next step scheduled once"


async def test_kill_9_with_10000_steps_due_emits_each_step_once(env, tmp_path, stack):
    async with TopicReader(stack.bootstrap, env.topic(NURTURE_STEP.topic)) as steps:
        enrollments = await seed_due_steps(
            env.database_url, 10_000, datetime.now(UTC) - timedelta(minutes=1)
        )
        proc = await asyncio.to_thread(start_nurture, env, tmp_path, "nurture-kill")
        await wait_for(lambda: emitted_when(env, 1500), timeout=120, interval=0.02)
        proc.kill()
        at_kill = (
            await sql(
                env,
                "SELECT count(*) FROM nurture.scheduled_step WHERE step = 1 AND state = 'emitted'",
            )
        )[0][0]
        assert at_kill < 10_000, "killed too late to prove anything"
        await asyncio.to_thread(proc.start)
        await wait_for(lambda: emitted_when(env, 10_000), timeout=300)
        await wait_for(lambda: outbox_empty(env), timeout=60)
        records = await steps.read(
            until=lambda rs: len({value(r)["id"] for r in rs}) >= 10_000, timeout=120
        )
        records = await steps.read()  # to the end
        await asyncio.to_thread(proc.stop)
    by_id = collections.defaultdict(list)
    for r in records:
        by_id[value(r)["id"]].append(value(r)["data"])
    assert set(by_id) == {str(step_id(e, 1)) for e in enrollments}
    assert all(all(d == copies[0] for d in copies) for copies in by_id.values()), (
        "a re-sent step is the same step"
    )
    rows = await sql(env, "SELECT state, count(*) FROM nurture.scheduled_step GROUP BY state")
    assert dict(rows) == {
        "emitted": 10_000,
        "pending": 10_000,
    }  # step 1 of each, and step 2 scheduled once


async def test_two_instances_keep_each_leads_weekly_cap(env, tmp_path, stack):
    """Three due steps per lead, in three sequences, a cap of two a week: under two
    instances each lead gets exactly two now and the third waits a week."""
    config = yaml.safe_load((FIXTURES / "nurture-24x7.yaml").read_text())
    config["defaults"]["frequency_cap"]["max_per_week"] = 2
    capped = tmp_path / "nurture-cap2.yaml"
    capped.write_text(yaml.safe_dump(config))
    a = await asyncio.to_thread(start_nurture, env, tmp_path, "nurture-cap-a", capped)
    b = await asyncio.to_thread(start_nurture, env, tmp_path, "nurture-cap-b", capped)
    try:
        now = datetime.now(UTC)
        await seed_due_steps(env.database_url, 1000, now - timedelta(minutes=1),
                             sequences=("web-welcome", "nurture-warm", "nurture-cold"))  # fmt: skip
        await wait_for(lambda: _first_steps_settled(env, 3000), timeout=180)
        a_count, b_count = (
            await asyncio.to_thread(emitted_by, a),
            await asyncio.to_thread(emitted_by, b),
        )
    finally:
        await asyncio.to_thread(a.stop)
        await asyncio.to_thread(b.stop)
    rows = await sql(
        env,
        "SELECT lead_id, count(*) FILTER (WHERE state = 'emitted'), "
        "count(*) FILTER (WHERE state = 'pending' AND due_at > now() + interval '6 days') "
        "FROM nurture.scheduled_step WHERE step = 1 GROUP BY lead_id",
    )
    assert len(rows) == 1000
    assert all((emitted, waiting) == (2, 1) for _, emitted, waiting in rows)
    assert a_count > 0 and b_count > 0 and a_count + b_count == 2000


async def _first_steps_settled(env, count: int) -> bool:
    rows = await sql(
        env,
        "SELECT count(*) FROM nurture.scheduled_step WHERE step = 1 AND "
        "(state = 'emitted' OR (state = 'pending' AND due_at > now() + interval '1 day'))",
    )
    return rows[0][0] >= count
