"""The AsyncAPI document describes exactly the event types the code registers."""

from pathlib import Path

import yaml

from shared.events.registry import EVENT_TYPES, SCHEMA_DIR
from shared.kafka.topics import PARTITIONS

DOC = yaml.safe_load((SCHEMA_DIR.parent / "asyncapi.yaml").read_text())


def test_every_event_type_has_a_channel_and_schema():
    messages = {m["name"]: m for m in DOC["components"]["messages"].values()}
    assert set(messages) == set(EVENT_TYPES)
    addresses = {c["address"] for c in DOC["channels"].values()}
    for type_name, event_type in EVENT_TYPES.items():
        assert event_type.topic in addresses
        assert event_type.topic in PARTITIONS
        ref = messages[type_name]["payload"]["$ref"]
        assert (SCHEMA_DIR.parent / ref).resolve() == event_type.schema_path.resolve()
        assert Path(event_type.schema_path).exists()


def test_channel_descriptions_state_the_real_partition_counts():
    for channel in DOC["channels"].values():
        assert f"{PARTITIONS[channel['address']]} partitions" in channel["description"]


def test_the_production_server_asks_for_the_mechanism_the_deployment_uses():
    configmap = next(
        doc
        for doc in yaml.safe_load_all(
            (
                Path(__file__).resolve().parents[2] / "deploy" / "k8s" / "10-configmap.yaml"
            ).read_text()
        )
        if doc["metadata"]["name"] == "leadflow-env"
    )["data"]
    server = DOC["servers"]["production"]
    assert server["host"] == configmap["LEADFLOW_KAFKA_BOOTSTRAP_SERVERS"]
    assert server["protocol"] == "kafka-secure"  # TLS
    assert configmap["LEADFLOW_KAFKA_SECURITY_PROTOCOL"] == "SASL_SSL"
    (ref,) = server["security"]
    scheme = DOC["components"]["securitySchemes"][ref["$ref"].rsplit("/", 1)[1]]
    mechanism = configmap["LEADFLOW_KAFKA_SASL_MECHANISM"]  # SCRAM-SHA-512 -> scramSha512
    assert scheme["type"] == "scramSha" + mechanism.removeprefix("SCRAM-SHA-")
