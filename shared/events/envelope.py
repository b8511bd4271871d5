"""CloudEvents 1.0 JSON envelope (structured mode) for every Kafka message."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, TypeAdapter, ValidationError

from shared.events.models import READ_EXTRA, EventModel

M = TypeVar("M", bound=BaseModel)


_TIME: TypeAdapter[datetime] = TypeAdapter(datetime)


class InvalidEvent(ValueError):
    """A message that is not a well-formed CloudEvent of a known shape."""


class CloudEvent(EventModel):
    """Unknown envelope attributes (CloudEvents extensions such as ``traceparent``) are
    ignored on reading; ``data`` is kept whole for :meth:`data_as`."""

    specversion: Literal["1.0"] = "1.0"
    id: str = Field(min_length=1, max_length=128)
    source: str = Field(min_length=1, max_length=512)
    type: str = Field(min_length=1, max_length=256)
    time: datetime
    subject: str | None = None
    datacontenttype: Literal["application/json"] = "application/json"
    dataschema: str | None = None
    data: dict[str, Any]

    def to_json_dict(self) -> dict[str, Any]:
        """``model_dump(mode="json", exclude_none=True)``, built directly: ``data`` is JSON
        already (``make_event`` dumps it), and walking it again as ``Any`` was the largest
        cost of writing an event to an outbox."""
        out: dict[str, Any] = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": _TIME.dump_python(self.time, mode="json"),
        }
        if self.subject is not None:
            out["subject"] = self.subject
        out["datacontenttype"] = self.datacontenttype
        if self.dataschema is not None:
            out["dataschema"] = self.dataschema
        out["data"] = self.data
        return out

    def to_bytes(self) -> bytes:
        return self.model_dump_json(exclude_none=True).encode()

    @classmethod
    def from_bytes(cls, raw: bytes | None) -> CloudEvent:
        if raw is None:
            raise InvalidEvent("empty message")
        try:
            return cls.model_validate_json(raw)
        except ValidationError as exc:
            raise InvalidEvent(f"not a CloudEvent: {exc.errors(include_url=False)[:3]}") from exc

    def data_as(self, model: type[M]) -> M:
        try:
            return model.model_validate(self.data, extra=READ_EXTRA)
        except ValidationError as exc:
            raise InvalidEvent(
                f"{self.type} data invalid: {exc.errors(include_url=False)[:3]}"
            ) from exc


def derived_id(namespace: uuid.UUID, *parts: str) -> str:
    """An event id derived from what caused the event: the same cause, the same id, so a
    re-sent event is recognisably the same one."""
    return str(uuid.uuid5(namespace, "\x1f".join(parts)))


def make_event(
    *,
    type: str,
    source: str,
    subject: str | None,
    data: BaseModel,
    id: str | None = None,
    time: datetime | None = None,
) -> CloudEvent:
    return CloudEvent(
        id=id or str(uuid.uuid4()),
        source=source,
        type=type,
        time=time or datetime.now(UTC),
        subject=subject,
        dataschema=f"urn:leadflow:schema:{type}",
        data=data.model_dump(mode="json", exclude_none=False),
    )
