"""Request authentication, as dependencies that return the verified request."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from fastapi import Depends, Request

from services.ingest import metrics
from services.ingest.context import IngestContext, get_context
from services.ingest.domain.signatures import SignatureError, SignedMessage, verify
from services.ingest.sources.config import Source
from services.ingest.sources.redirects import mark_form_navigation
from shared.http import ApiError

SOURCE_HEADER = "X-Leadflow-Source"


@dataclass(frozen=True)
class Authenticated:
    """A request whose source is known and whose credentials were checked."""

    source: Source
    body: bytes
    signed: SignedMessage | None
    idempotency_key: str | None
    client: str

    @property
    def request_hash(self) -> bytes:
        return hashlib.sha256(self.body).digest()


def _client_address(request: Request) -> str:
    # Behind trusted proxies uvicorn's proxy-header middleware (installed by create_app) has
    # already put the client's address here; from any other peer it is the TCP peer.
    return request.client.host if request.client else "unknown"


def _reject(
    source: Source | None, status: int, code: str, detail: str, reason: str, **kw: object
) -> ApiError:
    metrics.LEADS_REJECTED.labels(source.kind if source else "unknown", reason).inc()
    return ApiError(status, code, detail, **kw)  # type: ignore[arg-type]


def _resolve_source(request: Request, ctx: IngestContext) -> Source:
    source_id = request.headers.get(SOURCE_HEADER) or request.query_params.get("source")
    if not source_id:
        raise _reject(
            None,
            400,
            "source_required",
            f"name the lead source with the {SOURCE_HEADER} header or the source query parameter",
            "unknown_source",
            errors=[{"field": SOURCE_HEADER, "message": "missing", "type": "missing"}],
        )
    source = ctx.sources.get(source_id)
    if source is None:
        raise _reject(
            None, 401, "unknown_source", f"source {source_id!r} is not configured", "unknown_source"
        )
    return source


def _verify_signature(
    request: Request, ctx: IngestContext, source: Source, body: bytes
) -> SignedMessage:
    try:
        return verify(
            secrets=source.secrets,
            msg_id=request.headers.get("webhook-id"),
            timestamp=request.headers.get("webhook-timestamp"),
            signature=request.headers.get("webhook-signature"),
            body=body,
            now=ctx.clock().timestamp(),
            tolerance_seconds=ctx.settings.ingest_signature_tolerance_seconds,
        )
    except SignatureError as exc:
        raise _reject(
            source,
            401,
            f"signature_{exc.reason.value}",
            exc.message,
            "unauthorized",
            headers={
                "WWW-Authenticate": 'Signature realm="leadflow", headers="webhook-id webhook-timestamp webhook-signature"'
            },
        ) from None


def _check_public(request: Request, ctx: IngestContext, source: Source, client: str) -> None:
    origin = (request.headers.get("origin") or "").rstrip("/").lower()
    if origin not in source.config.allowed_origins:
        raise _reject(
            source,
            403,
            "origin_not_allowed",
            f"origin {origin or '(none)'!r} may not post to source {source.id!r}",
            "origin",
        )
    # from here on, a plain HTML form's errors may be answered with its error page
    mark_form_navigation(request, source)
    wait = ctx.limiter_for(source).acquire(client, ctx.clock().timestamp())
    if wait > 0:
        raise _reject(
            source,
            429,
            "rate_limited",
            "too many submissions from this client; slow down",
            "rate_limited",
            headers={"Retry-After": str(max(1, round(wait)))},
        )


async def authenticate(
    request: Request, ctx: IngestContext = Depends(get_context)
) -> Authenticated:
    """Any configured source: signed and list sources by signature, public ones by origin and rate."""
    return await _authenticate(request, ctx, _resolve_source(request, ctx))


async def authenticate_signed(
    request: Request, ctx: IngestContext = Depends(get_context)
) -> Authenticated:
    """Only server-to-server (signed) sources: sales tools and the email system. Any other
    source is refused before its own checks (origin, rate limit) run."""
    source = _resolve_source(request, ctx)
    if source.kind != "signed":
        raise _reject(
            source,
            403,
            "source_not_allowed",
            "activities must come from a signed source",
            "unauthorized",
        )
    return await _authenticate(request, ctx, source)


async def _authenticate(request: Request, ctx: IngestContext, source: Source) -> Authenticated:
    client = _client_address(request)
    if not source.is_signed:
        _check_public(request, ctx, source, client)
    body = await request.body()
    signed = _verify_signature(request, ctx, source, body) if source.is_signed else None
    key = signed.msg_id if signed else request.headers.get("idempotency-key")
    if key is not None and not (1 <= len(key) <= 256):
        raise _reject(
            source,
            422,
            "invalid_idempotency_key",
            "Idempotency-Key must be 1-256 characters",
            "validation",
        )
    return Authenticated(
        source=source, body=body, signed=signed, idempotency_key=key, client=client
    )
