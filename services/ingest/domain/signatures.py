"""Standard Webhooks signature verification (https://www.standardwebhooks.com/).

``webhook-signature`` holds one or more ``v1,<base64 HMAC-SHA256>`` entries, space
separated, over ``{webhook-id}.{webhook-timestamp}.{raw body}``. Any active secret may
match (rotation). Pure: the clock is a parameter.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from dataclasses import dataclass
from enum import StrEnum

from shared.domain import standard_webhooks


class SignatureFailure(StrEnum):
    missing_headers = "missing_headers"
    malformed = "malformed"
    stale = "stale"  # timestamp too old or too far in the future
    mismatch = "mismatch"


class SignatureError(Exception):
    def __init__(self, reason: SignatureFailure, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


@dataclass(frozen=True)
class SignedMessage:
    msg_id: str
    timestamp: int
    signature: str


def secret_bytes(secret: str) -> bytes:
    raw = secret.removeprefix("whsec_")
    return base64.b64decode(raw + "=" * (-len(raw) % 4))


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``v1,<sig>`` entry a sender puts in ``webhook-signature``."""
    return standard_webhooks.entry(secret_bytes(secret), msg_id, timestamp, body)


def verify(
    *,
    secrets: tuple[str, ...],
    msg_id: str | None,
    timestamp: str | None,
    signature: str | None,
    body: bytes,
    now: float,
    tolerance_seconds: int = 300,
) -> SignedMessage:
    """Return the verified message identity, or raise :class:`SignatureError` with the reason."""
    if not (msg_id and timestamp and signature):
        raise SignatureError(
            SignatureFailure.missing_headers,
            "webhook-id, webhook-timestamp and webhook-signature headers are required",
        )
    if len(msg_id) > 256:
        raise SignatureError(SignatureFailure.malformed, "webhook-id is longer than 256 characters")
    try:
        ts = int(timestamp)
    except ValueError:
        raise SignatureError(
            SignatureFailure.malformed, "webhook-timestamp must be integer seconds"
        ) from None
    if abs(now - ts) > tolerance_seconds:
        raise SignatureError(
            SignatureFailure.stale,
            f"webhook-timestamp is outside the {tolerance_seconds}s tolerance",
        )
    candidates: list[bytes] = []
    for entry in signature.split():
        version, _, value = entry.partition(",")
        if version != "v1" or not value:
            continue
        try:
            candidates.append(base64.b64decode(value, validate=True))
        except (binascii.Error, ValueError):
            continue
    if not candidates:
        raise SignatureError(SignatureFailure.malformed, "webhook-signature has no v1 signature")
    for secret in secrets:
        expected = standard_webhooks.digest(secret_bytes(secret), msg_id, ts, body)
        if any(hmac.compare_digest(expected, c) for c in candidates):
            return SignedMessage(msg_id=msg_id, timestamp=ts, signature=signature)
    raise SignatureError(
        SignatureFailure.mismatch, "no signature matches an active secret for this source"
    )
