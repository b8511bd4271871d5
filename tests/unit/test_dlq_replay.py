"""Where a replayed dead letter goes and which headers it carries (pure, no broker)."""

from __future__ import annotations

import pytest

from shared.kafka.replay import REPLAYED_FROM, DeadLetter, original_topic, replay_headers

DLQ_HEADERS = [
    ("traceparent", b"00-abc-def-01"),
    ("dlq.error.type", b"InvalidEvent"),
    ("dlq.original.topic", b"t1.leads.received.v1"),
    ("dlq.original.offset", b"7"),
]


def test_the_original_topic_comes_from_the_header_else_the_dlq_name() -> None:
    assert original_topic("t1.leads.received.v1.dlq", DLQ_HEADERS) == "t1.leads.received.v1"
    assert original_topic("leads.activity.v1.dlq", []) == "leads.activity.v1"


def test_a_dead_letter_never_replays_into_a_dlq() -> None:
    with pytest.raises(ValueError, match="no replayable topic"):
        original_topic("x.dlq", [("dlq.original.topic", b"y.dlq")])


def test_replay_keeps_original_headers_drops_dlq_ones_and_marks_the_source() -> None:
    once = replay_headers(DLQ_HEADERS, "t1.leads.received.v1.dlq:2:40")
    assert once == [
        ("traceparent", b"00-abc-def-01"),
        (REPLAYED_FROM, b"t1.leads.received.v1.dlq:2:40"),
    ]
    # dead-lettered again and replayed again: one mark, the newest
    twice = replay_headers([*once, ("dlq.error.type", b"InvalidEvent")], "x.dlq:0:3")
    assert twice == [("traceparent", b"00-abc-def-01"), (REPLAYED_FROM, b"x.dlq:0:3")]


def test_event_type_and_id_are_read_when_the_value_is_a_cloudevent() -> None:
    letter = DeadLetter("a.dlq", 0, 1, b"k", b'{"type": "io.x.v1", "id": "e-1"}', ())
    assert letter.event() == ("io.x.v1", "e-1")
    for value in (b"poison", None, b"[1, 2]"):
        assert DeadLetter("a.dlq", 0, 1, b"k", value, ()).event() == (None, None)
