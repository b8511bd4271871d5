"""Signing outgoing webhooks the Standard Webhooks way (https://www.standardwebhooks.com/).

- A secret is ``whsec_`` followed by the base64 of 32 random bytes; any secret whose
  key is 24 to 64 bytes is accepted (receivers' libraries decode it the same way).
- ``webhook-id`` is the event id (a receiver dedupes on it), ``webhook-timestamp`` the
  unix seconds at send, ``webhook-signature`` one ``v1,<base64 HMAC-SHA256>`` per
  active secret, space separated, so a receiver holding either secret of a rotation
  verifies.
- Rotation: the new secret is current (no expiry); the previous one stays valid for a
  grace period; at most two secrets are unexpired at any time.

Pure: randomness only in :func:`new_secret`, the clock is a parameter.
"""

from __future__ import annotations

import base64
import binascii
import secrets as _random
from collections.abc import Hashable, Sequence
from datetime import datetime, timedelta
from typing import TypeVar

from shared.domain import standard_webhooks

PREFIX = "whsec_"
SECRET_BYTES = 32
MIN_KEY_BYTES, MAX_KEY_BYTES = 24, 64
MAX_UNEXPIRED = 2

K = TypeVar("K", bound=Hashable)


def new_secret() -> str:
    """A fresh secret: ``whsec_`` + base64 of 32 random bytes."""
    return PREFIX + base64.b64encode(_random.token_bytes(SECRET_BYTES)).decode()


def secret_bytes(secret: str) -> bytes:
    """The HMAC key of a ``whsec_`` secret; ``ValueError`` naming what is wrong with it."""
    if not secret.startswith(PREFIX):
        raise ValueError(f"a webhook secret starts with {PREFIX!r}")
    raw = secret.removeprefix(PREFIX)
    try:
        key = base64.b64decode(raw + "=" * (-len(raw) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError(f"a webhook secret is {PREFIX!r} followed by base64") from None
    if not MIN_KEY_BYTES <= len(key) <= MAX_KEY_BYTES:
        raise ValueError(
            f"a webhook secret's key is {MIN_KEY_BYTES} to {MAX_KEY_BYTES} bytes, this one {len(key)}"
        )
    return key


def sign(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> str:
    """The ``webhook-signature`` value: one ``v1,<base64>`` entry per secret, space separated."""
    if not secrets:
        raise ValueError("signing needs at least one secret")
    return " ".join(
        standard_webhooks.entry(secret_bytes(s), msg_id, timestamp, body) for s in secrets
    )


def headers(secrets: Sequence[str], msg_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """The three Standard Webhooks headers for one send."""
    return {
        "webhook-id": msg_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secrets, msg_id, timestamp, body),
    }


def _unexpired(expires_at: datetime | None, now: datetime) -> bool:
    return expires_at is None or expires_at > now


def active_secrets(secrets: Sequence[tuple[str, datetime | None]], now: datetime) -> list[str]:
    """The secrets that sign at ``now`` (``(secret, expires_at)`` pairs; ``None`` = current).

    The current one first, then the others, latest expiry first.
    """
    live = [(s, e) for s, e in secrets if _unexpired(e, now)]
    live.sort(key=lambda pair: (pair[1] is not None, -(pair[1].timestamp()) if pair[1] else 0.0))
    return [s for s, _ in live]


def rotate(
    secrets: Sequence[tuple[K, datetime | None]], now: datetime, grace: timedelta
) -> dict[K, datetime]:
    """New expiries for the existing secrets when a new current secret is added at ``now``.

    ``secrets`` are ``(key, expires_at)`` pairs (the key is whatever identifies the row).
    The current secret (no expiry) expires after ``grace``; so that no more than two are
    unexpired after the rotation, every other unexpired secret expires at ``now``.
    A ``grace`` of zero expires the current one at once. Secrets already expired are left
    alone. Returns only the secrets whose expiry changes.
    """
    if grace < timedelta(0):
        raise ValueError("the grace period of a rotation cannot be negative")
    live = [(k, e) for k, e in secrets if _unexpired(e, now)]
    # the one to keep: the current secret, else the one expiring last
    live.sort(key=lambda pair: (pair[1] is None, pair[1].timestamp() if pair[1] else 0.0))
    changes: dict[K, datetime] = {}
    if not live:
        return changes
    *older, (kept, kept_expiry) = live
    for key, _ in older:
        changes[key] = now
    until = now + grace
    if kept_expiry is None or kept_expiry > until:
        changes[kept] = until
    return changes
