from shared.events.envelope import CloudEvent, InvalidEvent, make_event
from shared.events.models import (
    ActivityKind,
    ActivityReceived,
    LeadData,
    LeadReceived,
    SourceRef,
    TradeShowRef,
)
from shared.events.registry import EVENT_TYPES, EventType, event_type_for_topic

__all__ = [
    "EVENT_TYPES",
    "ActivityKind",
    "ActivityReceived",
    "CloudEvent",
    "EventType",
    "InvalidEvent",
    "LeadData",
    "LeadReceived",
    "SourceRef",
    "TradeShowRef",
    "event_type_for_topic",
    "make_event",
]
