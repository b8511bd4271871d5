"""Processed event ids are forgotten after the retention, the recent ones kept."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta

from services.nurture.models import ProcessedEvent
from shared import db
from shared.outbox import mark_processed, prune_forever, prune_processed
from tests.router_env import sql


async def test_old_ids_are_pruned_recent_ones_kept(env):
    engine = db.create_engine(env.database_url, pool_size=2)
    sessions = db.sessionmaker(engine)
    now = datetime.now(UTC)
    old = [f"old-{uuid.uuid4()}" for _ in range(25)]
    recent = [f"new-{uuid.uuid4()}" for _ in range(5)]
    try:
        async with sessions.begin() as session:
            for i, event_id in enumerate(old):
                assert await mark_processed(
                    session, ProcessedEvent, event_id, now - timedelta(days=20, minutes=i)
                )
            for event_id in recent:
                assert await mark_processed(
                    session, ProcessedEvent, event_id, now - timedelta(days=1)
                )
        async with sessions.begin() as session:
            assert (
                await prune_processed(session, ProcessedEvent, now - timedelta(days=14), limit=10)
                == 10
            )
        stopping = asyncio.Event()
        task = asyncio.create_task(
            prune_forever(sessions, ProcessedEvent, timedelta(days=14), stopping, every=60)
        )
        left = await _wait_for_ids(env, 5)
        stopping.set()
        await task
        async with sessions.begin() as session:  # a recent id still dedupes
            assert not await mark_processed(session, ProcessedEvent, recent[0], now)
    finally:
        await engine.dispose()
    assert sorted(left) == sorted(recent)


async def _wait_for_ids(env, count):
    for _ in range(100):
        rows = await sql(env, "SELECT event_id FROM nurture.processed_event")
        if len(rows) == count:
            return [r[0] for r in rows]
        await asyncio.sleep(0.1)
    raise AssertionError(f"still {len(rows)} processed ids")
