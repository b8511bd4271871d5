"""The floor the router is compared with: a bare aiokafka loop over the same events.

``python -m tests.bench.null_loop '<json config>'`` (started by ``tests/bench/router.py``):
consumes the given offset range of a topic with ``getmany``, decodes each message's JSON,
builds a small decision-like event from it (ids, the lead, a type) and produces that to
another topic in batches (send every message of a batch, then wait on all the futures:
acks=all and idempotence, like ``shared/kafka/producer.py``), then commits the batch's
offsets, like the router's consumer loop. No database, no validation, no business logic.

Protocol on stdio: prints ``ready`` once connected and positioned; starts on a ``go`` line on
stdin; prints one JSON line with its figures when the range is done (or it stalled).
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

from tests.bench.common import loop_factory

STALL_S = 30.0  # no message for this long: stop and report what was done


async def run(cfg: dict[str, Any]) -> dict[str, Any]:
    topic, out_topic = cfg["topic"], cfg["out_topic"]
    start = {int(p): int(o) for p, o in cfg["start"].items()}
    end = {int(p): int(o) for p, o in cfg["end"].items()}
    expected = sum(end[p] - start[p] for p in end)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=cfg["bootstrap"],
        group_id=cfg["group"],
        client_id="bench-null-loop",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        max_poll_records=cfg["batch"],
        isolation_level="read_committed",
    )
    producer = AIOKafkaProducer(
        bootstrap_servers=cfg["bootstrap"],
        client_id="bench-null-loop",
        acks="all",
        enable_idempotence=True,
        linger_ms=2,  # EventProducer's default
    )
    await consumer.start()
    await producer.start()
    try:
        tps = {p: TopicPartition(topic, p) for p in end if end[p] > start[p]}
        consumer.assign(list(tps.values()))
        for p, tp in tps.items():
            consumer.seek(tp, start[p])
        print("ready", flush=True)
        await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline)

        done = batches = 0
        t0, cpu0 = time.perf_counter(), time.process_time()
        last_progress = t0
        while done < expected:
            fetched = await consumer.getmany(timeout_ms=500, max_records=cfg["batch"])
            futures = []
            staged: dict[TopicPartition, int] = {}
            for tp, records in fetched.items():
                for record in records:
                    if record.offset >= end[tp.partition]:
                        continue
                    event = json.loads(record.value)
                    data = event["data"]
                    out = {
                        "specversion": "1.0",
                        "id": f"null-{event['id']}",
                        "source": "/bench/null-loop",
                        "type": "bench.null.v1",
                        "subject": event.get("subject"),
                        "time": event.get("time"),
                        "data": {"submission_id": data.get("lead_id"), "lead": data.get("lead")},
                    }
                    futures.append(
                        await producer.send(
                            out_topic, value=json.dumps(out).encode(), key=record.key
                        )
                    )
                    staged[tp] = record.offset + 1
            if futures:
                await asyncio.gather(*futures)
                await consumer.commit(staged)
                done += len(futures)
                batches += 1
                last_progress = time.perf_counter()
            elif time.perf_counter() - last_progress > STALL_S:
                break
        wall = time.perf_counter() - t0
        cpu = time.process_time() - cpu0
    finally:
        await producer.stop()
        await consumer.stop()
    return {
        "expected": expected,
        "messages": done,
        "batches": batches,
        "wall_s": round(wall, 3),
        "self_cpu_s": round(cpu, 3),
        "stalled": done < expected,
    }


def main() -> None:
    cfg = json.loads(sys.argv[1])
    factory, _ = loop_factory()
    with asyncio.Runner(loop_factory=factory) as runner:
        result = runner.run(run(cfg))
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
