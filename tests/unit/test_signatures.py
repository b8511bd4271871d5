"""Standard Webhooks signature verification, against our signer and the reference library."""

from __future__ import annotations

import base64
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from standardwebhooks.webhooks import Webhook

from services.ingest.domain.signatures import (
    SignatureError,
    SignatureFailure,
    SignedMessage,
    sign,
    verify,
)

SECRET = "whsec_" + base64.b64encode(b"a-very-secret-32-byte-key-012345").decode()
OTHER = "whsec_" + base64.b64encode(b"another-secret-32-byte-key-98765").decode()
NOW = 1_700_000_000
BODY = b'{"email":"ada@example.com","first_name":"Ada"}'
MSG_ID = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W"


def _verify(
    *,
    secrets: tuple[str, ...] = (SECRET,),
    msg_id: str | None = MSG_ID,
    timestamp: str | None = str(NOW),
    signature: str | None = None,
    body: bytes = BODY,
    now: float = NOW,
    tolerance_seconds: int = 300,
) -> SignedMessage:
    if signature is None:
        signature = sign(SECRET, MSG_ID, NOW, BODY)
    return verify(
        secrets=secrets,
        msg_id=msg_id,
        timestamp=timestamp,
        signature=signature,
        body=body,
        now=now,
        tolerance_seconds=tolerance_seconds,
    )


def _reason(**kwargs: object) -> SignatureFailure:
    with pytest.raises(SignatureError) as exc:
        _verify(**kwargs)  # type: ignore[arg-type]
    return exc.value.reason


def test_sign_has_v1_prefix_and_32_byte_mac() -> None:
    sig = sign(SECRET, MSG_ID, NOW, BODY)
    version, _, value = sig.partition(",")
    assert version == "v1"
    assert len(base64.b64decode(value, validate=True)) == 32


def test_verify_accepts_own_signature() -> None:
    signed = _verify()
    assert signed == SignedMessage(
        msg_id=MSG_ID, timestamp=NOW, signature=sign(SECRET, MSG_ID, NOW, BODY)
    )


def test_sign_matches_reference_library() -> None:
    reference = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(NOW, tz=UTC), BODY.decode())
    assert sign(SECRET, MSG_ID, NOW, BODY) == reference


def test_verify_accepts_reference_library_signature() -> None:
    signature = Webhook(SECRET).sign(MSG_ID, datetime.fromtimestamp(NOW, tz=UTC), BODY.decode())
    assert _verify(signature=signature).timestamp == NOW


def test_secret_without_prefix_is_the_same_key() -> None:
    bare = SECRET.removeprefix("whsec_")
    assert sign(bare, MSG_ID, NOW, BODY) == sign(SECRET, MSG_ID, NOW, BODY)


@settings(max_examples=50, deadline=None)
@given(
    st.binary(min_size=1, max_size=64),
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789_", min_size=1, max_size=40),
    st.integers(min_value=0, max_value=4_000_000_000),
    st.text(max_size=200),
)
def test_verify_accepts_reference_library_for_any_input(
    key: bytes, msg_id: str, ts: int, body: str
) -> None:
    secret = "whsec_" + base64.b64encode(key).decode()
    signature = Webhook(secret).sign(msg_id, datetime.fromtimestamp(ts, tz=UTC), body)
    assert sign(secret, msg_id, ts, body.encode()) == signature
    signed = verify(
        secrets=(secret,),
        msg_id=msg_id,
        timestamp=str(ts),
        signature=signature,
        body=body.encode(),
        now=ts,
    )
    assert signed.msg_id == msg_id and signed.timestamp == ts


def test_wrong_secret_is_mismatch() -> None:
    assert _reason(secrets=(OTHER,)) == SignatureFailure.mismatch


def test_no_secrets_is_mismatch() -> None:
    assert _reason(secrets=()) == SignatureFailure.mismatch


def test_tampered_body_is_mismatch() -> None:
    assert _reason(body=BODY.replace(b"Ada", b"Eve")) == SignatureFailure.mismatch


def test_other_msg_id_is_mismatch() -> None:
    assert _reason(msg_id="msg_other") == SignatureFailure.mismatch


def test_signature_for_other_timestamp_is_mismatch() -> None:
    # within tolerance, but the timestamp is part of what is signed
    assert _reason(timestamp=str(NOW + 1)) == SignatureFailure.mismatch


def test_rotation_any_active_secret_matches() -> None:
    assert _verify(secrets=(OTHER, SECRET)).msg_id == MSG_ID
    assert _verify(secrets=(SECRET, OTHER)).msg_id == MSG_ID
    new_sig = sign(OTHER, MSG_ID, NOW, BODY)
    assert _verify(secrets=(SECRET, OTHER), signature=new_sig).msg_id == MSG_ID


def test_header_with_several_signatures_accepts_if_any_matches() -> None:
    good = sign(SECRET, MSG_ID, NOW, BODY)
    stranger = sign(OTHER, MSG_ID, NOW, BODY)
    for header in (
        f"{stranger} {good}",
        f"{good} {stranger}",
        f"v2,abc {good}",
        f"v1,!!notbase64!! {good}",
    ):
        assert _verify(signature=header).signature == header


def test_header_with_several_wrong_signatures_is_mismatch() -> None:
    header = f"{sign(OTHER, MSG_ID, NOW, BODY)} {sign(OTHER, MSG_ID, NOW, b'x')}"
    assert _reason(signature=header) == SignatureFailure.mismatch


@pytest.mark.parametrize("offset", [301, 3600, -301, -3600])
def test_stale_and_future_timestamps_are_stale(offset: int) -> None:
    ts = NOW + offset
    sig = sign(SECRET, MSG_ID, ts, BODY)
    assert _reason(timestamp=str(ts), signature=sig) == SignatureFailure.stale


@pytest.mark.parametrize("offset", [300, -300, 0, 120])
def test_timestamps_within_tolerance_are_accepted(offset: int) -> None:
    ts = NOW + offset
    sig = sign(SECRET, MSG_ID, ts, BODY)
    assert _verify(timestamp=str(ts), signature=sig).timestamp == ts


def test_stale_even_with_a_valid_signature_and_custom_tolerance() -> None:
    sig = sign(SECRET, MSG_ID, NOW - 61, BODY)
    assert (
        _reason(timestamp=str(NOW - 61), signature=sig, tolerance_seconds=60)
        == SignatureFailure.stale
    )


@pytest.mark.parametrize(
    "missing",
    [{"msg_id": None}, {"timestamp": None}, {"signature": ""}, {"msg_id": ""}, {"timestamp": ""}],
)
def test_missing_headers(missing: dict[str, str | None]) -> None:
    assert _reason(**missing) == SignatureFailure.missing_headers


@pytest.mark.parametrize(
    "signature",
    ["garbage", "v1,", "v1,!!!not base64!!!", "v2,c2lnbmF0dXJl", "v1c2lnbmF0dXJl", ",", "   "],
)
def test_malformed_signature_header(signature: str) -> None:
    # "   " is truthy, so it is a present-but-malformed header
    assert _reason(signature=signature) == SignatureFailure.malformed


@pytest.mark.parametrize("timestamp", ["abc", "1.7e9", "1700000000.5", "now"])
def test_malformed_timestamp(timestamp: str) -> None:
    assert _reason(timestamp=timestamp) == SignatureFailure.malformed


def test_overlong_msg_id_is_malformed() -> None:
    assert _reason(msg_id="m" * 257) == SignatureFailure.malformed


@settings(max_examples=100)
@given(st.binary(min_size=1, max_size=200), st.data())
def test_any_single_byte_change_fails(body: bytes, data: st.DataObject) -> None:
    sig = sign(SECRET, MSG_ID, NOW, body)
    assert verify(
        secrets=(SECRET,), msg_id=MSG_ID, timestamp=str(NOW), signature=sig, body=body, now=NOW
    )
    index = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
    new_byte = data.draw(st.integers(min_value=0, max_value=255).filter(lambda b: b != body[index]))
    tampered = body[:index] + bytes([new_byte]) + body[index + 1 :]
    with pytest.raises(SignatureError) as exc:
        verify(
            secrets=(SECRET,),
            msg_id=MSG_ID,
            timestamp=str(NOW),
            signature=sig,
            body=tampered,
            now=NOW,
        )
    assert exc.value.reason == SignatureFailure.mismatch
