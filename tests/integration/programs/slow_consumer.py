"""A consumer process for shutdown tests: handles slowly, records what it handled."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from shared.kafka.consumer import ConsumerConfig, ConsumerLoop
from shared.kafka.producer import EventProducer
from shared.lifecycle import run_until_stopped


async def main(bootstrap: str, topic: str, group: str, out: Path) -> None:
    producer = EventProducer(bootstrap)
    await producer.start(required=True)

    async def handler(event, record):  # type: ignore[no-untyped-def]
        await asyncio.sleep(0.05)
        with out.open("a") as f:
            f.write(f"{event.id}\n")

    loop = ConsumerLoop(
        ConsumerConfig(topics=[topic], group_id=group, bootstrap_servers=bootstrap, max_batch=20),
        handler,
        producer,
    )
    await run_until_stopped(loop.run(), [loop.stop], [producer.stop])


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2], sys.argv[3], Path(sys.argv[4])))
