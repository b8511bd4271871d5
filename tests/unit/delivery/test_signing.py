"""Outgoing signatures verify with the reference `standardwebhooks` library."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError

from services.delivery.domain.signing import (
    active_secrets,
    headers,
    new_secret,
    rotate,
    secret_bytes,
    sign,
)
from services.ingest.domain.signatures import verify as ingest_verify

NOW = datetime(2026, 5, 4, 12, 0, tzinfo=UTC)
BODY = json.dumps({"specversion": "1.0", "id": "evt-1", "type": "io.leadflow.lead.assigned.v1"})


def test_a_new_secret_is_whsec_and_32_random_bytes() -> None:
    secret = new_secret()
    assert secret.startswith("whsec_")
    assert len(base64.b64decode(secret.removeprefix("whsec_"))) == 32
    assert secret_bytes(secret) == base64.b64decode(secret.removeprefix("whsec_"))
    assert new_secret() != secret


def test_one_secret_verifies_with_standardwebhooks() -> None:
    secret = new_secret()
    sent = headers([secret], "evt-1", int(time.time()), BODY.encode())
    assert set(sent) == {"webhook-id", "webhook-timestamp", "webhook-signature"}
    assert sent["webhook-id"] == "evt-1"
    assert Webhook(secret).verify(BODY.encode(), sent) == json.loads(BODY)


def test_both_secrets_of_a_rotation_verify() -> None:
    old, new = new_secret(), new_secret()
    sent = headers([new, old], "evt-2", int(time.time()), BODY.encode())
    assert len(sent["webhook-signature"].split(" ")) == 2
    for secret in (old, new):
        Webhook(secret).verify(BODY.encode(), sent)
    with pytest.raises(WebhookVerificationError):
        Webhook(new_secret()).verify(BODY.encode(), sent)


def test_a_changed_body_id_or_timestamp_does_not_verify() -> None:
    secret = new_secret()
    ts = int(time.time())
    sent = headers([secret], "evt-3", ts, BODY.encode())
    hook = Webhook(secret)
    with pytest.raises(WebhookVerificationError):
        hook.verify(BODY.encode() + b" ", sent)
    with pytest.raises(WebhookVerificationError):
        hook.verify(BODY.encode(), {**sent, "webhook-id": "evt-4"})
    with pytest.raises(WebhookVerificationError):
        hook.verify(BODY.encode(), {**sent, "webhook-timestamp": str(ts + 1)})


def test_ingest_verifies_what_delivery_signs() -> None:
    secret = new_secret()
    sent = headers([secret], "evt-5", 1_700_000_000, b"{}")
    message = ingest_verify(
        secrets=(secret,),
        msg_id=sent["webhook-id"],
        timestamp=sent["webhook-timestamp"],
        signature=sent["webhook-signature"],
        body=b"{}",
        now=1_700_000_000,
    )
    assert message.msg_id == "evt-5"


@given(
    msg_id=st.text(
        alphabet=st.characters(codec="ascii", categories=("L", "N", "P")), min_size=1, max_size=64
    ),
    body=st.text(max_size=500),
    n_secrets=st.integers(min_value=1, max_value=2),
    which=st.integers(min_value=0, max_value=1),
)
def test_any_body_and_id_verify(msg_id: str, body: str, n_secrets: int, which: int) -> None:
    keys = [new_secret() for _ in range(n_secrets)]
    sent = headers(keys, msg_id, int(time.time()), body.encode())
    Webhook(keys[which % n_secrets]).verify(body.encode(), sent, json_parse=False)


def test_signing_needs_a_secret() -> None:
    with pytest.raises(ValueError, match="at least one secret"):
        sign([], "evt", 1, b"")


@pytest.mark.parametrize(
    ("secret", "problem"),
    [
        ("c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0c2VjcmV0", "starts with 'whsec_'"),
        ("whsec_", "this one 0"),
        ("whsec_not base64!", "followed by base64"),
        ("whsec_" + base64.b64encode(b"x" * 23).decode(), "24 to 64 bytes, this one 23"),
        ("whsec_" + base64.b64encode(b"x" * 65).decode(), "24 to 64 bytes, this one 65"),
    ],
)
def test_bad_secrets_are_rejected_naming_the_problem(secret: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem):
        secret_bytes(secret)


@pytest.mark.parametrize("size", [24, 32, 64])
def test_secrets_of_24_to_64_bytes_are_accepted_padded_or_not(size: int) -> None:
    encoded = base64.b64encode(bytes(range(size))).decode()
    assert secret_bytes("whsec_" + encoded) == bytes(range(size))
    assert secret_bytes("whsec_" + encoded.rstrip("=")) == bytes(range(size))


def test_active_secrets_are_the_unexpired_current_first() -> None:
    pairs = [
        ("expired", NOW - timedelta(seconds=1)),
        ("previous", NOW + timedelta(hours=3)),
        ("current", None),
        ("at-now", NOW),  # expiry is exclusive
    ]
    assert active_secrets(pairs, NOW) == ["current", "previous"]
    assert active_secrets([], NOW) == []


def test_rotation_keeps_the_previous_secret_for_the_grace() -> None:
    changes = rotate([(1, None)], NOW, timedelta(hours=24))
    assert changes == {1: NOW + timedelta(hours=24)}


def test_rotation_leaves_at_most_two_unexpired() -> None:
    pairs = [(1, NOW + timedelta(hours=5)), (2, None), (3, NOW - timedelta(days=1))]
    changes = rotate(pairs, NOW, timedelta(hours=24))
    assert changes == {1: NOW, 2: NOW + timedelta(hours=24)}


def test_rotation_does_not_extend_a_shorter_expiry_and_refuses_negative_grace() -> None:
    assert rotate([(1, NOW + timedelta(hours=1))], NOW, timedelta(hours=24)) == {}
    assert rotate([], NOW, timedelta(hours=24)) == {}
    with pytest.raises(ValueError, match="negative"):
        rotate([(1, None)], NOW, timedelta(seconds=-1))


@given(
    expiries=st.lists(st.one_of(st.none(), st.integers(min_value=-48, max_value=48)), max_size=5),
    grace_h=st.integers(min_value=0, max_value=72),
)
def test_after_any_rotation_at_most_one_old_secret_is_unexpired(
    expiries: list[int | None], grace_h: int
) -> None:
    pairs = [(i, None if h is None else NOW + timedelta(hours=h)) for i, h in enumerate(expiries)]
    changes = rotate(pairs, NOW, timedelta(hours=grace_h))
    after = [(k, changes.get(k, e)) for k, e in pairs]
    live = active_secrets([(str(k), e) for k, e in after], NOW)
    assert len(live) <= 1  # plus the new current one: at most two
    assert all(e is not None for _, e in after)  # the new secret is the only current one
    assert all(changes[k] <= NOW + timedelta(hours=grace_h) for k in changes)
