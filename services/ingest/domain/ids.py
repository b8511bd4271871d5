"""Deterministic ids: the same request, file or row always maps to the same id. Pure."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from datetime import date

ID_NAMESPACE = uuid.UUID("6f1b0d8e-4c1a-5b7e-9a57-2d4c6b1f0e11")


def stable_id(*parts: str) -> uuid.UUID:
    """A deterministic id: the same request always maps to the same lead and event id."""
    return uuid.uuid5(ID_NAMESPACE, "\x1f".join(parts))


@dataclass(frozen=True)
class RowIds:
    """The ids of one import row's submission and of the event that carries it."""

    submission_id: uuid.UUID
    event_id: str


def row_ids(import_id: uuid.UUID, row_number: int) -> RowIds:
    """Derived from the import and the row alone, so a row re-sent after a crash is the
    same submission in the same event to every consumer."""
    return RowIds(
        submission_id=stable_id(str(import_id), str(row_number), "lead"),
        event_id=str(stable_id(str(import_id), str(row_number), "event")),
    )


def trade_show_import_id(
    *,
    show_id: str,
    name: str,
    end_date: date,
    timezone: str,
    file_sha256: str,
    overrides: dict[str, str] | None,
) -> uuid.UUID:
    """The same file for the same show (and the same metadata and mapping) is one import."""
    fingerprint = json.dumps(
        [show_id, name, end_date.isoformat(), timezone, file_sha256, overrides or {}],
        sort_keys=True,
    )
    return stable_id("trade-show-import", fingerprint)


def list_import_id(
    *, list_id: str, file_sha256: str, overrides: dict[str, str] | None
) -> uuid.UUID:
    """The same file for the same purchased list (and the same mapping) is one import."""
    fingerprint = json.dumps([list_id, file_sha256, overrides or {}], sort_keys=True)
    return stable_id("list-import", fingerprint)
