"""Topics created on the real broker carry the policy: min.insync.replicas, dead-letter
retention (LEADFLOW_KAFKA_DLQ_RETENTION_DAYS)."""

from __future__ import annotations

import uuid

from shared.kafka.topics import all_topics, ensure_topics
from tests.kafka_helpers import topic_configs as _configs


async def test_topics_are_created_with_the_policy_of_the_cluster(stack):
    prefix = f"policy{uuid.uuid4().hex[:6]}."
    created = await ensure_topics(stack.bootstrap, all_topics(prefix), dlq_retention_days=9)
    assert f"{prefix}leads.received.v1" in created
    dlq = await _configs(stack.bootstrap, f"{prefix}leads.received.v1.dlq")
    assert dlq["retention.ms"] == str(9 * 86_400_000)
    assert dlq["min.insync.replicas"] == "1"  # one broker: one copy
    main = await _configs(stack.bootstrap, f"{prefix}leads.received.v1")
    assert main["min.insync.replicas"] == "1"
    assert main["retention.ms"] != dlq["retention.ms"]  # the broker's default
    assert await ensure_topics(stack.bootstrap, all_topics(prefix)) == []  # all exist
