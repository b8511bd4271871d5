"""The Standard Webhooks signature (https://www.standardwebhooks.com/), sender and receiver alike.

A ``v1`` signature is the base64 HMAC-SHA256, keyed with the secret's bytes, of
``{webhook-id}.{webhook-timestamp}.`` followed by the raw body. ``webhook-signature``
carries one ``v1,<signature>`` entry per active secret, space separated.
"""

from __future__ import annotations

import base64
import hashlib
import hmac


def digest(key: bytes, msg_id: str, timestamp: int, body: bytes) -> bytes:
    """The raw HMAC-SHA256 over the signed content. The body is fed to the MAC as it is, not
    copied behind the prefix: a receiver tries each active secret, a sender signs with each."""
    mac = hmac.new(key, f"{msg_id}.{timestamp}.".encode(), hashlib.sha256)
    mac.update(body)
    return mac.digest()


def entry(key: bytes, msg_id: str, timestamp: int, body: bytes) -> str:
    """One ``v1,<base64>`` entry of ``webhook-signature``."""
    return "v1," + base64.b64encode(digest(key, msg_id, timestamp, body)).decode()
