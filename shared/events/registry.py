"""Event types and the topics that carry them. Names are versioned; a breaking change is a new v."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from shared.events.models import (
    ActivityReceived,
    EndpointDisabled,
    LeadAssigned,
    LeadErased,
    LeadLifecycle,
    LeadMerge,
    LeadReceived,
    LeadSla,
    NurtureLifecycle,
    NurtureStep,
)

SCHEMA_DIR = Path(__file__).parent / "schemas"


@dataclass(frozen=True)
class EventType:
    type: str
    topic: str
    model: type[BaseModel]
    key: str  # what the Kafka key is, for the docs

    @property
    def schema_path(self) -> Path:
        return SCHEMA_DIR / f"{self.type}.schema.json"

    def load_schema(self) -> dict[str, Any]:
        return json.loads(self.schema_path.read_text())  # type: ignore[no-any-return]


LEAD_RECEIVED = EventType(
    "io.leadflow.lead.received.v1",
    "leads.received.v1",
    LeadReceived,
    "match key (email:<canonical address>, else phone:<E.164>, else lead:<lead id>)",
)
# The bulk lane carries the same type and schema as leads.received.v1 on a topic of its own.
LEAD_RECEIVED_BULK = EventType(
    LEAD_RECEIVED.type,
    "leads.bulk.v1",
    LeadReceived,
    LEAD_RECEIVED.key,
)
LEAD_ACTIVITY = EventType(
    "io.leadflow.lead.activity.v1", "leads.activity.v1", ActivityReceived, "lead id"
)

LEAD_ASSIGNED = EventType(
    "io.leadflow.lead.assigned.v1", "leads.assigned.v1", LeadAssigned, "lead id"
)
LEAD_SLA = EventType("io.leadflow.lead.sla.v1", "leads.sla.v1", LeadSla, "lead id")
LEAD_LIFECYCLE = EventType(
    "io.leadflow.lead.lifecycle.v1", "leads.lifecycle.v1", LeadLifecycle, "lead id"
)
LEAD_MERGE = EventType(
    "io.leadflow.lead.merge.v1", "leads.merges.v1", LeadMerge, "lead id (the surviving lead)"
)
LEAD_ERASED = EventType(
    "io.leadflow.lead.erased.v1", "leads.erasure.v1", LeadErased, "lead id (the erased lead)"
)

NURTURE_STEP = EventType("io.leadflow.nurture.step.v1", "nurture.steps.v1", NurtureStep, "lead id")
NURTURE_LIFECYCLE = EventType(
    "io.leadflow.nurture.lifecycle.v1", "nurture.lifecycle.v1", NurtureLifecycle, "lead id"
)

DELIVERY_ENDPOINT_DISABLED = EventType(
    "io.leadflow.delivery.endpoint_disabled.v1",
    "delivery.endpoints.v1",
    EndpointDisabled,
    "endpoint id",
)

EVENT_TYPES: dict[str, EventType] = {
    t.type: t
    for t in (
        LEAD_RECEIVED,
        LEAD_ACTIVITY,
        LEAD_ASSIGNED,
        LEAD_SLA,
        LEAD_LIFECYCLE,
        LEAD_MERGE,
        LEAD_ERASED,
        NURTURE_STEP,
        NURTURE_LIFECYCLE,
        DELIVERY_ENDPOINT_DISABLED,
    )
}


def event_type_for_topic(topic: str) -> EventType:
    for t in EVENT_TYPES.values():
        if t.topic == topic:
            return t
    raise KeyError(topic)


def envelope_schema(event_type: EventType) -> dict[str, Any]:
    """A JSON Schema (2020-12) for the whole CloudEvent of one type."""
    data_schema = event_type.model.model_json_schema(ref_template="#/$defs/{model}")
    defs = data_schema.pop("$defs", {})
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"urn:leadflow:schema:{event_type.type}",
        "title": event_type.type,
        "description": f"CloudEvents 1.0 envelope on topic {event_type.topic}, Kafka key: {event_type.key}.",
        "$comment": (
            "Readers ignore properties they do not know, at every level: a v1 type only gains"
            " optional properties, a breaking change is a new type on a new topic. Producers"
            " send only the properties declared here."
        ),
        "type": "object",
        "additionalProperties": True,
        "required": ["specversion", "id", "source", "type", "time", "data"],
        "properties": {
            "specversion": {"const": "1.0"},
            "id": {"type": "string", "minLength": 1, "maxLength": 128},
            "source": {"type": "string", "minLength": 1},
            "type": {"const": event_type.type},
            "time": {"type": "string", "format": "date-time"},
            "subject": {"type": "string"},
            "datacontenttype": {"const": "application/json"},
            "dataschema": {"type": "string"},
            "data": data_schema,
        },
        "$defs": defs,
    }


def render_schemas() -> dict[Path, str]:
    return {
        t.schema_path: json.dumps(envelope_schema(t), indent=2, sort_keys=True) + "\n"
        for t in EVENT_TYPES.values()
    }
