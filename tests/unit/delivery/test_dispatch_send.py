"""One webhook send (services.delivery.dispatch.send) against an in-process transport: the
address check before the request, the pinned address, the bounded read, what each kind of
failure becomes; and the settings that make the address policy."""

from __future__ import annotations

import asyncio
import gzip
import uuid
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from services.delivery.dispatch import claim_limit, excerpt, pinned, send
from services.delivery.domain.safety import AddressPolicy, url_problem
from services.delivery.handlers import lead_id_of, with_sequence
from services.delivery.settings import DeliverySettings
from shared.events.envelope import make_event
from shared.events.registry import LEAD_SLA
from tests.unit.test_event_evolution import SAMPLES

NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
DEV = AddressPolicy(require_https=False, allow_private=True)
PRODUCTION = AddressPolicy(require_https=True, allow_private=False)


async def _send(handler, url="http://127.0.0.1:9/hook", policy=DEV, **kw):
    seen: list[httpx.Request] = []

    async def record(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        result = handler(request)
        return await result if asyncio.iscoroutine(result) else result

    async with httpx.AsyncClient(transport=httpx.MockTransport(record)) as http:
        sent = await send(
            http, url, b'{"id":"e1"}', {"webhook-id": "e1"}, policy=policy,
            timeout=kw.get("timeout", 2.0), read_bytes=kw.get("read_bytes", 1000),
            excerpt_bytes=kw.get("excerpt_bytes", 100), now=NOW,
        )  # fmt: skip
    return sent, seen


async def test_a_2xx_is_sent_signed_as_json_and_its_body_excerpted():
    sent, seen = await _send(lambda r: httpx.Response(204, content=b"ok"))
    assert sent.response.status_code == 204 and sent.response.error is None
    assert sent.excerpt == "ok" and sent.started_at == NOW
    (request,) = seen
    assert request.headers["content-type"] == "application/json"
    assert request.headers["user-agent"] == "leadflow-delivery/1"
    assert request.headers["webhook-id"] == "e1"
    assert request.content == b'{"id":"e1"}'


async def test_a_private_address_is_refused_in_production_and_nothing_is_sent():
    sent, seen = await _send(
        lambda r: httpx.Response(204), url="https://127.0.0.1/hook", policy=PRODUCTION
    )
    assert sent.response.error == "refused_address" and seen == []
    assert "loopback" in (sent.error or "")


async def test_http_is_refused_where_https_is_required():
    sent, seen = await _send(lambda r: httpx.Response(204), policy=PRODUCTION)
    assert sent.response.error == "refused_address" and seen == []


async def test_the_request_goes_to_the_checked_address_with_the_host_kept():
    _, seen = await _send(lambda r: httpx.Response(200), url="http://localhost:8080/x?a=1")
    (request,) = seen
    assert request.url.host in ("127.0.0.1", "::1")
    assert request.url.port == 8080 and request.url.path == "/x" and request.url.query == b"a=1"
    assert request.headers["host"] == "localhost:8080"


async def test_the_response_is_read_only_up_to_the_bound():
    sent, _ = await _send(
        lambda r: httpx.Response(200, content=b"x" * 100_000), read_bytes=64, excerpt_bytes=10
    )
    assert sent.excerpt == "x" * 10


async def test_redirects_are_not_followed():
    sent, seen = await _send(
        lambda r: httpx.Response(302, headers={"location": "http://127.0.0.1:9/elsewhere"})
    )
    assert sent.response.status_code == 302 and len(seen) == 1


async def test_retry_after_is_read_from_a_throttling_answer():
    sent, _ = await _send(lambda r: httpx.Response(503, headers={"retry-after": "120"}))
    assert sent.response.retry_after == timedelta(seconds=120)


async def test_a_slow_receiver_is_a_timeout_and_a_refused_connection_a_connect_error():
    async def slow(request):
        await asyncio.sleep(5)
        return httpx.Response(200)

    def refuse(request):
        raise httpx.ConnectError("refused", request=request)

    timed_out, _ = await _send(slow, timeout=0.1)
    assert timed_out.response.error == "timeout"
    refused, _ = await _send(refuse)
    assert refused.response.error == "connect_error" and refused.error == "ConnectError"


@pytest.mark.parametrize(
    ("url", "address", "expected"),
    [
        ("https://example.com:8443/x?y=1", "93.184.216.34", ("https://93.184.216.34:8443/x?y=1", "example.com:8443", "example.com")),
        ("https://example.com/x", "2606:2800:220:1::1", ("https://[2606:2800:220:1::1]/x", "example.com", "example.com")),
    ],
)  # fmt: skip
def test_pinned_replaces_the_host_by_the_address(url, address, expected):
    assert pinned(url, address) == expected


def test_the_excerpt_is_bounded_and_decoded_with_replacement():
    assert excerpt("é".encode() * 3, 3) == "é\ufffd"


def test_the_leadsequence_attribute_and_the_lead_of_an_event():
    lead = uuid.uuid4()
    data = SAMPLES[LEAD_SLA.type].model_copy(update={"lead_id": lead})
    event = make_event(type=LEAD_SLA.type, source="/t", subject=str(lead), data=data)
    assert lead_id_of(event, LEAD_SLA) == lead
    assert with_sequence({"id": "e"}, 7) == {"id": "e", "leadsequence": 7}
    assert with_sequence({"id": "e"}, None) == {"id": "e"}


def test_private_networks_and_http_are_allowed_only_in_dev_and_test_by_default():
    test = DeliverySettings(env="test").address_policy()
    assert test.allow_private and not test.require_https
    production = DeliverySettings(
        env="production", database_url="postgresql+asyncpg://x/y", admin_token="a-real-token-1234",
        erasure_hash_key="a-real-hash-key-1234",
    ).address_policy()  # fmt: skip
    assert not production.allow_private and production.require_https
    allowed = DeliverySettings(
        env="test", delivery_allow_private_networks=False, delivery_allowed_networks=["10.1.0.0/16"],
        delivery_allowed_hosts=["hooks.internal"],
    ).address_policy()  # fmt: skip
    assert not allowed.allow_private
    assert [str(n) for n in allowed.allowed_networks] == ["10.1.0.0/16"]
    assert allowed.allowed_hosts == frozenset({"hooks.internal"})


class _Stream(httpx.AsyncByteStream):
    """A body streamed as a real connection would (not read in advance)."""

    def __init__(self, data: bytes, chunk: int = 4096) -> None:
        self.data, self.chunk, self.read = data, chunk, 0

    async def __aiter__(self):
        for start in range(0, len(self.data), self.chunk):
            self.read += self.chunk
            yield self.data[start : start + self.chunk]


async def test_a_gzip_answer_is_not_decompressed_and_keeps_an_opaque_excerpt():
    body = gzip.compress(b"hello")
    sent, _ = await _send(
        lambda r: httpx.Response(200, headers={"content-encoding": "gzip"}, stream=_Stream(body))
    )
    assert sent.response.status_code == 200
    assert sent.excerpt == f"<gzip-encoded body, {len(body)} bytes read>"


async def test_a_gzip_bomb_is_read_only_up_to_the_bound_of_raw_bytes():
    bomb = gzip.compress(b"\0" * 20_000_000)  # ~20 kB that inflate to 20 MB
    stream = _Stream(bomb, chunk=256)
    sent, _ = await _send(
        lambda r: httpx.Response(200, headers={"content-encoding": "gzip"}, stream=stream),
        read_bytes=1000,
    )
    assert sent.excerpt == "<gzip-encoded body, 1000 bytes read>"
    assert stream.read <= 1024


async def test_an_identity_stream_is_read_raw_up_to_the_bound():
    sent, _ = await _send(
        lambda r: httpx.Response(200, stream=_Stream(b"y" * 50_000)),
        read_bytes=64,
        excerpt_bytes=10,
    )
    assert sent.excerpt == "y" * 10


def test_the_excerpt_has_no_nul_bytes():
    assert excerpt(b"a\x00b", 10) == "a\ufffdb"


async def test_an_idn_host_is_sent_in_its_idna_form():
    async def resolver(host, port):
        assert host == "xn--bcher-kva.example"
        return ["127.0.0.1"]

    seen: list[httpx.Request] = []
    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: seen.append(r) or httpx.Response(204))
    ) as http:
        sent = await send(
            http, "http://bücher.example:8080/x", b"{}", {}, policy=DEV, timeout=2.0,
            read_bytes=100, excerpt_bytes=10, now=NOW, resolver=resolver,
        )  # fmt: skip
    assert sent.response.status_code == 204
    (request,) = seen
    assert request.headers["host"] == "xn--bcher-kva.example:8080"
    assert request.headers["connection"] == "close"
    assert str(request.url) == "http://127.0.0.1:8080/x"


def test_a_host_that_is_not_valid_idna_is_refused():
    assert "IDNA" in (url_problem("https://a\u200db.example/x", PRODUCTION) or "")


async def test_the_next_address_is_tried_when_the_first_cannot_be_reached():
    async def resolver(host, port):
        return ["127.0.0.2", "127.0.0.3"]

    def handler(request):
        if request.url.host == "127.0.0.2":
            raise httpx.ConnectError("refused", request=request)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as http:
        sent = await send(
            http, "http://hooks.test/x", b"{}", {}, policy=DEV, timeout=2.0, read_bytes=100,
            excerpt_bytes=10, now=NOW, resolver=resolver,
        )  # fmt: skip
    assert sent.response.status_code == 204


async def test_one_deadline_covers_the_resolve_and_the_request():
    async def resolver(host, port):
        await asyncio.sleep(0.15)
        return ["127.0.0.1"]

    async def slow(request):
        await asyncio.sleep(0.15)
        return httpx.Response(204)

    async with httpx.AsyncClient(transport=httpx.MockTransport(slow)) as http:
        sent = await send(
            http, "http://hooks.test/x", b"{}", {}, policy=DEV, timeout=0.2, read_bytes=100,
            excerpt_bytes=10, now=NOW, resolver=resolver,
        )  # fmt: skip
    assert sent.response.error == "timeout"
    assert sent.response.elapsed >= timedelta(seconds=0.2)


def test_the_lease_must_cover_two_timeouts_and_a_margin():
    with pytest.raises(ValueError, match="LEASE_SECONDS"):
        DeliverySettings(env="test", delivery_timeout_seconds=15, delivery_lease_seconds=30)
    DeliverySettings(env="test", delivery_timeout_seconds=15, delivery_lease_seconds=35)


def test_a_claim_takes_no_more_than_can_be_in_flight():
    settings = DeliverySettings(env="test", delivery_batch_size=100, delivery_concurrency=16)
    assert claim_limit(settings) == 16


def test_a_batch_takes_lead_locks_in_lead_order_keeping_each_leads_order():
    from types import SimpleNamespace

    from services.delivery.handlers import _lock_order

    a, b = uuid.UUID(int=1), uuid.UUID(int=2)
    items = [SimpleNamespace(lead_id=b, n=1), None, SimpleNamespace(lead_id=a, n=2),
             SimpleNamespace(lead_id=None, n=3), SimpleNamespace(lead_id=b, n=4)]  # fmt: skip
    ordered = sorted(items, key=_lock_order)  # type: ignore[arg-type]
    assert [getattr(i, "n", None) for i in ordered] == [2, 1, 4, None, 3]


async def test_a_resolver_raising_unicode_or_value_error_is_a_connect_error():
    for raised in (UnicodeError("label too long"), ValueError("bad")):

        async def resolver(host, port, raised=raised):
            raise raised

        async with httpx.AsyncClient(transport=httpx.MockTransport(httpx.Response)) as http:
            sent = await send(
                http, "http://hooks.test/x", b"{}", {}, policy=DEV, timeout=2.0,
                read_bytes=100, excerpt_bytes=10, now=NOW, resolver=resolver,
            )  # fmt: skip
        assert sent.response.error == "connect_error" and "resolve" in (sent.error or "")


async def test_the_resolve_of_a_hebrew_idn_host_gets_its_ascii_form():
    hosts: list[str] = []

    async def resolver(host, port):
        hosts.append(host)
        return ["127.0.0.1"]

    async with httpx.AsyncClient(
        transport=httpx.MockTransport(lambda r: httpx.Response(204))
    ) as http:
        sent = await send(
            http, "http://\u05d01.com/x", b"{}", {}, policy=DEV, timeout=2.0,
            read_bytes=100, excerpt_bytes=10, now=NOW, resolver=resolver,
        )  # fmt: skip
    assert sent.response.status_code == 204 and hosts[0].isascii()
