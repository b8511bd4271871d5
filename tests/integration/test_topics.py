"""Topics created on the real broker carry the policy: min.insync.replicas, dead-letter
retention as long as the consumers' memory of processed ids."""

from __future__ import annotations

import asyncio
import uuid

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType

from shared.kafka.topics import all_topics, ensure_topics


async def _configs(bootstrap: str, topic: str) -> dict[str, str]:
    """The topic's configuration, once the broker knows the new topic (error code 0)."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        for _ in range(50):
            (response,) = await admin.describe_configs(
                [ConfigResource(ConfigResourceType.TOPIC, topic)]
            )
            ((error_code, _message, _type, _name, entries),) = response.resources
            if error_code == 0:
                return {entry[0]: entry[1] for entry in entries}
            await asyncio.sleep(0.2)
        raise AssertionError(f"{topic} unknown to the broker, error {error_code}")
    finally:
        await admin.close()


async def test_topics_are_created_with_the_policy_of_the_cluster(stack):
    prefix = f"policy{uuid.uuid4().hex[:6]}."
    created = await ensure_topics(stack.bootstrap, all_topics(prefix), processed_retention_days=9)
    assert f"{prefix}leads.received.v1" in created
    dlq = await _configs(stack.bootstrap, f"{prefix}leads.received.v1.dlq")
    assert dlq["retention.ms"] == str(9 * 86_400_000)
    assert dlq["min.insync.replicas"] == "1"  # one broker: one copy
    main = await _configs(stack.bootstrap, f"{prefix}leads.received.v1")
    assert main["min.insync.replicas"] == "1"
    assert main["retention.ms"] != dlq["retention.ms"]  # the broker's default
    assert await ensure_topics(stack.bootstrap, all_topics(prefix)) == []  # all exist
