"""Kafka for the router benchmark: publishing received events, reading decision events as they
come out, offsets of topics and consumer groups, and running the null loop beside the router."""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import GroupCoordinatorNotAvailableError

from shared.kafka.producer import EventProducer
from shared.stack.common import REPO_ROOT
from tests.bench.common import CpuMeter, proc_cpu_seconds
from tests.router_env import received

PUBLISH_CHUNK = 1000
BULK_CHUNK = 5000


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    for _ in range(75):
        cluster = await consumer._client.fetch_all_metadata()
        partitions = cluster.partitions_for_topic(topic)
        if partitions:
            return [TopicPartition(topic, p) for p in sorted(partitions)]
        await asyncio.sleep(0.2)
    raise RuntimeError(f"topic {topic} does not exist")


async def end_offsets(bootstrap: str, topic: str) -> dict[int, int]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = await _partitions(consumer, topic)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: int(off) for tp, off in ends.items()}
    finally:
        await consumer.stop()


async def group_offsets(bootstrap: str, group: str, topic: str) -> dict[int, int]:
    """The group's committed offsets on ``topic`` (empty when it never committed there)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=15000)
    await admin.start()
    try:
        for attempt in range(20):
            try:
                found = await admin.list_consumer_group_offsets(group)
                break
            except GroupCoordinatorNotAvailableError:  # offsets topic still being created
                if attempt == 19:
                    raise
                await asyncio.sleep(0.5)
    finally:
        await admin.close()
    return {
        tp.partition: int(m.offset)
        for tp, m in found.items()
        if tp.topic == topic and m.offset >= 0
    }


def consumed(start: dict[int, int], end: dict[int, int], committed: dict[int, int]) -> int:
    """Messages of the range start..end the group has committed past."""
    return sum(
        max(0, min(committed.get(p, start[p]), end[p]) - start[p]) for p in end if p in start
    )


async def publish_received(
    producer: EventProducer,
    topic: str,
    people: Iterable[dict[str, Any]],
    *,
    source: str = "website",
    kind: str = "signed",
) -> tuple[list[str], list[str], float]:
    """leads.received.v1 events for ``people`` (built chunk by chunk) to ``topic``, acks=all.
    Returns the event ids, the submission ids (``data.lead_id``) and the seconds it took."""
    ids: list[str] = []
    submissions: list[str] = []
    started = time.perf_counter()
    chunk: list[Any] = []

    async def flush() -> None:
        await producer.publish_many([(topic, key, event, ()) for key, event in chunk])
        chunk.clear()

    for fields in people:
        _, key, event = received(fields, source=source, kind=kind)
        ids.append(str(event.id))
        submissions.append(str(event.data["lead_id"]))
        chunk.append((key, event))
        if len(chunk) >= PUBLISH_CHUNK:
            await flush()
    if chunk:
        await flush()
    return ids, submissions, time.perf_counter() - started


def build_received(
    people: Iterable[dict[str, Any]], *, source: str, kind: str
) -> tuple[list[tuple[bytes, bytes]], list[str]]:
    """leads.received.v1 events as (key, value) bytes, built ahead of publishing (validating
    and encoding 100,000 events takes a minute here), and their submission ids."""
    items, submissions = [], []
    for fields in people:
        _, key, event = received(fields, source=source, kind=kind)
        items.append((key, event.to_bytes()))
        submissions.append(str(event.data["lead_id"]))
    return items, submissions


async def publish_bytes(bootstrap: str, topic: str, items: list[tuple[bytes, bytes]]) -> float:
    """Publish prepared events as fast as the broker takes them (acks=all, idempotence, like
    EventProducer); returns the seconds until the last one was acknowledged."""
    producer = AIOKafkaProducer(
        bootstrap_servers=bootstrap, acks="all", enable_idempotence=True, linger_ms=5
    )
    await producer.start()
    try:
        started = time.perf_counter()
        for lo in range(0, len(items), BULK_CHUNK):
            futures = [
                await producer.send(topic, value=value, key=key)
                for key, value in items[lo : lo + BULK_CHUNK]
            ]
            await asyncio.gather(*futures)
        return time.perf_counter() - started
    finally:
        await producer.stop()


# Pending submissions few enough to ask the database whether the router recorded them unrouted.
UNROUTED_CHECK_MAX = 200


class DecisionReader:
    """Reads ``leads.assigned.v1`` from its end: per submission, when its first decision was
    read and what it was (outcome, kind, rep, lead)."""

    def __init__(self, bootstrap: str, topic: str) -> None:
        self.bootstrap = bootstrap
        self.topic = topic
        self.seen: dict[str, float] = {}
        self.decisions: dict[str, tuple[str, str, str | None, str]] = {}
        self.unrouted: set[str] = set()  # recorded by the router without a decision
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> DecisionReader:
        self.consumer = AIOKafkaConsumer(
            bootstrap_servers=self.bootstrap,
            group_id=None,
            enable_auto_commit=False,
            fetch_max_wait_ms=50,
        )
        await self.consumer.start()
        try:
            tps = await _partitions(self.consumer, self.topic)
        except RuntimeError:
            await self.consumer.stop()
            raise
        self.consumer.assign(tps)
        await self.consumer.seek_to_end(*tps)
        self._task = asyncio.create_task(self._run())
        return self

    async def _run(self) -> None:
        while not self._stop.is_set():
            batch = await self.consumer.getmany(timeout_ms=100, max_records=2000)
            now = time.perf_counter()
            for records in batch.values():
                for record in records:
                    with contextlib.suppress(ValueError, KeyError, TypeError):
                        data = json.loads(record.value)["data"]
                        sid = data.get("submission_id")
                        if sid and sid not in self.seen:
                            self.seen[sid] = now
                            self.decisions[sid] = (
                                data["outcome"],
                                data["kind"],
                                data.get("rep_id"),
                                data["lead_id"],
                            )

    def count(self, ids: Iterable[str]) -> int:
        return sum(1 for i in ids if i in self.seen)

    async def wait_for(
        self,
        ids: list[str],
        deadline: float,
        on_progress: Callable[[int], None] | None = None,
        alive: Callable[[], None] | None = None,
        settled: Callable[[list[str]], Awaitable[set[str]]] | None = None,
    ) -> int:
        """Until every id was read or ``deadline`` (perf_counter) passed; returns how many.

        ``settled`` names the pending ids the router recorded without a decision (a generated
        person who fuzzy-matches a lead sales already closed: recorded, not routed). It is
        asked once the few ids left have not moved for 5 s; those count as done, at the time
        they were found, and are kept in ``self.unrouted`` (no decision, so no latency)."""
        pending = [i for i in ids if i not in self.seen]
        still_since = time.perf_counter()
        while pending and time.perf_counter() < deadline:
            await asyncio.sleep(0.2)
            left = [i for i in pending if i not in self.seen]
            if len(left) != len(pending):
                still_since = time.perf_counter()
            pending = left
            if (
                settled is not None
                and pending
                and len(pending) <= UNROUTED_CHECK_MAX
                and time.perf_counter() - still_since >= 5.0
            ):
                found = await settled(pending)
                now = time.perf_counter()
                for sid in found:
                    self.seen[sid] = now
                    self.unrouted.add(sid)
                pending = [i for i in pending if i not in found]
                still_since = now
            if on_progress is not None:
                on_progress(len(ids) - len(pending))
            if alive is not None:
                alive()
        return len(ids) - len(pending)

    async def __aexit__(self, *exc: object) -> None:
        self._stop.set()
        if self._task is not None:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._task, 5)
        await self.consumer.stop()


async def null_loop(
    bootstrap: str,
    topic: str,
    out_topic: str,
    group: str,
    start: dict[int, int],
    end: dict[int, int],
    *,
    batch: int,
    kafka_pid: int | None,
    postmaster: int | None,
    timeout: float,
) -> dict[str, Any]:
    """Run ``tests/bench/null_loop.py`` over ``topic``'s range start..end as its own process;
    its CPU (and Kafka's) is read from /proc over exactly its run."""
    cfg = {
        "bootstrap": bootstrap,
        "topic": topic,
        "out_topic": out_topic,
        "group": group,
        "start": start,
        "end": end,
        "batch": batch,
    }
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "tests.bench.null_loop",
        json.dumps(cfg),
        cwd=REPO_ROOT,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdin is not None and proc.stdout is not None
    try:
        line = await asyncio.wait_for(proc.stdout.readline(), 60)
        if line.strip() != b"ready":
            raise RuntimeError(f"null loop did not start: {line!r}")
        meter = CpuMeter({"null_loop": proc.pid, "kafka": kafka_pid}, postmaster)
        with meter:
            cpu0, kafka0 = proc_cpu_seconds(proc.pid), proc_cpu_seconds(kafka_pid)
            t0 = time.perf_counter()
            proc.stdin.write(b"go\n")
            await proc.stdin.drain()
            line = await asyncio.wait_for(proc.stdout.readline(), timeout)
            wall = time.perf_counter() - t0
            cpu1, kafka1 = proc_cpu_seconds(proc.pid), proc_cpu_seconds(kafka_pid)
        result: dict[str, Any] = json.loads(line)
        await asyncio.wait_for(proc.wait(), 30)
    finally:
        if proc.returncode is None:
            proc.kill()
            await proc.wait()
    n = result["messages"]
    result["measured_wall_s"] = round(wall, 3)
    result["messages_per_s"] = round(n / result["wall_s"], 1) if result["wall_s"] else None
    result["cpu_s"] = round(cpu1 - cpu0, 3) if cpu0 is not None and cpu1 is not None else None
    result["kafka_cpu_s"] = (
        round(kafka1 - kafka0, 3) if kafka0 is not None and kafka1 is not None else None
    )
    result["cpu_ms_per_message"] = (
        round(1000 * result["cpu_s"] / n, 4) if n and result["cpu_s"] is not None else None
    )
    result["kafka_cpu_ms_per_message"] = (
        round(1000 * result["kafka_cpu_s"] / n, 4) if n and result["kafka_cpu_s"] else None
    )
    result["cpu"] = meter.result
    return result
