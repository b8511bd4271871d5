"""`leadflow dlq` against a real broker and a real router: list, inspect and replay dead letters."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from datetime import UTC, datetime

import pytest

from shared.events.registry import LEAD_ASSIGNED, LEAD_RECEIVED
from shared.kafka.replay import REPLAYED_FROM
from shared.stack.common import REPO_ROOT, free_port
from shared.stack.stack import ServiceProcess
from tests.kafka_helpers import TopicReader, value
from tests.router_env import ROUTER, received, sales_ready


@pytest.fixture
async def router(env, tmp_path):
    proc = ServiceProcess(ROUTER, env.env(), port=free_port(), log=tmp_path / "router.log")
    await asyncio.to_thread(proc.start)
    await asyncio.to_thread(proc.wait_ready)
    yield proc
    await asyncio.to_thread(proc.stop)


async def leadflow_dlq(stack, *args: str, expect_exit: int = 0) -> str:
    """Run `leadflow dlq ...` as a real command; returns its standard output (and, when it
    is expected to fail, its standard error)."""
    env = {**os.environ, "COLUMNS": "250", "LEADFLOW_KAFKA_BOOTSTRAP_SERVERS": stack.bootstrap}
    result = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, "-m", "shared.cli", "dlq", *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO_ROOT,
        timeout=120,
    )
    assert result.returncode == expect_exit, result.stdout + result.stderr
    return result.stdout if expect_exit == 0 else result.stdout + result.stderr


def dlq_row(listing: str, topic: str) -> list[str]:
    rows = [line.split("│")[1:-1] for line in listing.splitlines() if f" {topic} " in line]
    assert len(rows) == 1, listing
    return [cell.strip() for cell in rows[0]]


def consumer_dead_letter_headers(topic: str, error: str) -> list[tuple[str, bytes]]:
    """The headers ConsumerLoop puts on a dead letter (shared/kafka/consumer.py)."""
    return [
        ("dlq.error.type", b"RuntimeError"),
        ("dlq.error.message", error.encode()),
        ("dlq.error.trace", b"Traceback (most recent call last): ..."),
        ("dlq.original.topic", topic.encode()),
        ("dlq.original.partition", b"0"),
        ("dlq.original.offset", b"0"),
        ("dlq.consumer.group", b"leadflow-router"),
        ("dlq.attempts", b"5"),
        ("dlq.failed_at", datetime.now(UTC).isoformat().encode()),
    ]


async def test_a_replayed_dead_letter_is_routed_and_a_second_replay_sends_nothing(
    env, router, producer, stack
):
    # A lead the router once failed on (a bug since fixed): in the DLQ as the consumer puts it.
    source = env.topic(LEAD_RECEIVED.topic)
    dlq = source + ".dlq"
    _, key, event = received(sales_ready(f"replayed.{uuid.uuid4().hex[:8]}@x.example"))
    submission = event.data["lead_id"]
    await producer.publish_raw(
        dlq, key, event.to_bytes(), consumer_dead_letter_headers(source, "boom in a bad deploy")
    )
    assert dlq_row(await leadflow_dlq(stack, "list"), dlq)[1:] == ["3", "1", "1"]

    async with TopicReader(stack.bootstrap, env.topic(LEAD_ASSIGNED.topic)) as assigned:
        dry = await leadflow_dlq(stack, "replay", dlq, "--dry-run")
        assert f"-> {source}: {LEAD_RECEIVED.type} {event.id} (RuntimeError)" in dry
        assert "would replay 1 of 1 awaiting: 1 to " + source in dry
        assert dlq_row(await leadflow_dlq(stack, "list"), dlq)[3] == "1", "a dry run commits"

        out = await leadflow_dlq(stack, "replay", dlq)
        assert f"replayed 1 of 1 awaiting: 1 to {source}" in out
        records = await assigned.read(
            until=lambda rs: any(value(r)["data"]["submission_id"] == submission for r in rs),
            timeout=20,
        )
        data = next(
            value(r)["data"] for r in records if value(r)["data"]["submission_id"] == submission
        )
        assert data["outcome"] == "assigned" and data["team_id"] == "core"

        again = await leadflow_dlq(stack, "replay", dlq)
        assert "replayed 0 of 0 awaiting: nothing" in again
        await asyncio.sleep(2)  # give a (wrong) second delivery the time to be routed
        assert await assigned.new_count() == 1
    assert dlq_row(await leadflow_dlq(stack, "list"), dlq)[1:] == ["3", "1", "0"]


async def test_poison_message_is_inspected_and_a_replay_dead_letters_it_again_once(
    env, router, producer, stack
):
    source = env.topic(LEAD_RECEIVED.topic)
    dlq = source + ".dlq"
    async with TopicReader(stack.bootstrap, dlq) as letters:
        await producer.publish_raw(source, b"poison", b'{"specversion": "1.0", "id": 1}')
        first = await letters.read(until=lambda rs: len(rs) >= 1, timeout=20)

        shown = await leadflow_dlq(stack, "inspect", dlq, "--limit", "5")
        assert "key               poison" in shown
        assert "error             InvalidEvent:" in shown
        origin = dict(first[0].headers)
        partition = origin["dlq.original.partition"].decode()
        offset = origin["dlq.original.offset"].decode()
        assert f"from              {source} partition {partition} offset {offset}" in shown
        assert "event             (not a CloudEvent)" in shown
        assert '{"specversion": "1.0", "id": 1}' in shown

        out = await leadflow_dlq(stack, "replay", dlq)
        assert f"replayed 1 of 1 awaiting: 1 to {source}" in out
        again = await letters.read(until=lambda rs: len(rs) >= 2, timeout=20)

    # Still poison: the router dead-letters it again, marked with where the replay took it from.
    second = dict(again[1].headers)
    assert again[1].key == b"poison" and again[1].value == first[0].value
    assert second[REPLAYED_FROM] == f"{dlq}:{first[0].partition}:{first[0].offset}".encode()
    assert second["dlq.error.type"] == b"InvalidEvent"
    assert [h for h, _ in again[1].headers].count("dlq.error.type") == 1
    # The new dead letter awaits the next replay; the replayed one does not.
    assert dlq_row(await leadflow_dlq(stack, "list"), dlq)[1:] == ["3", "2", "1"]

    # It can never succeed: skip that one letter, by partition and offset, sending nothing.
    poison = again[1]
    async with TopicReader(stack.bootstrap, source) as original:
        refused = await leadflow_dlq(
            stack, "replay", dlq, "--skip", "--partition", str(poison.partition),
            "--offset", str(poison.offset + 1), expect_exit=1,
        )  # fmt: skip
        assert f"is at offset {poison.offset}, not {poison.offset + 1}" in refused
        assert (await leadflow_dlq(stack, "replay", dlq, "--skip", expect_exit=2)) is not None
        out = await leadflow_dlq(
            stack, "replay", dlq, "--skip", "--partition", str(poison.partition), "--offset", str(poison.offset)
        )  # fmt: skip
        assert f"skipped {poison.partition}/{poison.offset}: (not a CloudEvent)" in out
        assert "nothing sent" in out
        assert await original.new_count() == 0
    assert dlq_row(await leadflow_dlq(stack, "list"), dlq)[1:] == ["3", "2", "0"]
