"""A real Standard Webhooks sender (the `standardwebhooks` library), not our own code."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from standardwebhooks.webhooks import Webhook

from shared.settings import DEV_WEBHOOK_SECRET


def signed_request(
    payload: dict[str, Any] | bytes,
    *,
    source: str = "website",
    secret: str = DEV_WEBHOOK_SECRET,
    msg_id: str | None = None,
    at: datetime | None = None,
) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    msg_id = msg_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    signature = Webhook(secret).sign(msg_id, at, body.decode())
    return body, {
        "content-type": "application/json",
        "x-leadflow-source": source,
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
    }


def stale(minutes: int = 6) -> datetime:
    return datetime.now(UTC) - timedelta(minutes=minutes)


def unique_email(tag: str = "lead") -> str:
    return f"{tag}.{uuid.uuid4().hex[:12]}@example.com"
