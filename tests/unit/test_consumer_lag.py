"""A consumer that loses a partition stops reporting its lag (the new owner reports it)."""

from __future__ import annotations

from aiokafka import TopicPartition
from prometheus_client import REGISTRY

from shared.kafka.consumer import LAG, ConsumerConfig, ConsumerLoop


def lag(group: str, topic: str, partition: int) -> float | None:
    return REGISTRY.get_sample_value(
        "leadflow_consumer_lag", {"group": group, "topic": topic, "partition": str(partition)}
    )


async def test_revoked_partitions_drop_their_lag_series():
    group, topic = "lag-test-group", "lag.test.v1"
    loop = ConsumerLoop(
        ConsumerConfig(topics=[topic], group_id=group, bootstrap_servers="unused"), None, None
    )  # type: ignore[arg-type]
    loop._consumer = object()  # type: ignore[assignment]  # assigned: nothing staged to commit
    for p in (0, 1, 2):
        LAG.labels(group, topic, str(p)).set(10 + p)
    await loop._commit_revoked({TopicPartition(topic, 0), TopicPartition(topic, 2)})
    assert lag(group, topic, 0) is None and lag(group, topic, 2) is None
    assert lag(group, topic, 1) == 11  # still ours
    await loop._commit_revoked({TopicPartition(topic, 0)})  # revoked twice: no error
