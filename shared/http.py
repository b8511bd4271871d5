"""HTTP kit shared by the services: problem+json errors, body-size limits, health routes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.responses import JSONResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.metrics import metrics_endpoint

PROBLEM_JSON = "application/problem+json"


class ApiError(Exception):
    """A client-facing error: becomes an RFC 9457 problem document.

    ``code`` is machine-readable and stable; ``errors`` names offending fields."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Sequence[dict[str, Any]] = (),
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = list(errors)
        self.headers = headers or {}


def invalid_field(field: str, detail: str) -> ApiError:
    """A 422 naming the field, like every validation error of the APIs."""
    return ApiError(
        422,
        "validation_error",
        detail,
        errors=[{"field": field, "message": detail, "type": "value_error"}],
    )


def problem_body(
    status: int, code: str, detail: str, errors: Sequence[dict[str, Any]] = ()
) -> dict[str, Any]:
    """The RFC 9457 document of an error, as every API answers it."""
    body: dict[str, Any] = {
        "type": f"urn:leadflow:error:{code}",
        "title": code.replace("_", " "),
        "status": status,
        "code": code,
        "detail": detail,
    }
    if errors:
        body["errors"] = list(errors)
    return body


def problem(
    status: int,
    code: str,
    detail: str,
    errors: Sequence[dict[str, Any]] = (),
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    return JSONResponse(
        problem_body(status, code, detail, errors),
        status_code=status,
        media_type=PROBLEM_JSON,
        headers=headers,
    )


def field_errors_from_pydantic(
    errors: Sequence[Any], *, strip: tuple[str, ...] = ("body",)
) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for err in errors:
        loc = [str(p) for p in err.get("loc", ()) if str(p) not in strip]
        field = ".".join(loc) or "body"
        message = str(err.get("msg", "invalid")).removeprefix("Value error, ")
        entry = {"field": field, "message": message, "type": err.get("type", "value_error")}
        if err.get("type") == "extra_forbidden":
            entry["message"] = f"unknown field {field!r}"
        out.append(entry)
    return out


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ApiError)
    async def _api_error(_: Request, exc: ApiError) -> Response:
        return problem(exc.status, exc.code, exc.detail, exc.errors, exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> Response:
        errors = field_errors_from_pydantic(exc.errors(), strip=("body", "query", "path", "header"))
        names = ", ".join(e["field"] for e in errors)
        return problem(422, "validation_error", f"invalid request: {names}", errors)

    @app.exception_handler(StarletteHTTPException)
    async def _http(_: Request, exc: StarletteHTTPException) -> Response:
        code = {404: "not_found", 405: "method_not_allowed", 401: "unauthorized"}.get(
            exc.status_code, "http_error"
        )
        return problem(
            exc.status_code, code, str(exc.detail), headers=getattr(exc, "headers", None)
        )


class _BodyTooLarge(Exception):
    pass


class BodySizeLimitMiddleware:
    """Answers 413 for bodies over the limit without reading them whole.

    A declared Content-Length over the limit is refused before any byte is read; a
    chunked body is counted as it streams and cut off at the limit. ``limits`` maps a
    path prefix to its own limit (e.g. bulk imports)."""

    def __init__(
        self, app: ASGIApp, default_limit: int, limits: dict[str, int] | None = None
    ) -> None:
        self.app = app
        self.default_limit = default_limit
        self.limits = sorted((limits or {}).items(), key=lambda kv: -len(kv[0]))

    def _limit_for(self, path: str) -> int:
        for prefix, limit in self.limits:
            if path.startswith(prefix):
                return limit
        return self.default_limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        limit = self._limit_for(scope["path"])
        for name, value in scope.get("headers", ()):
            if name == b"content-length":
                try:
                    declared = int(value)
                except ValueError:
                    declared = 0
                if declared > limit:
                    await self._reject(scope, receive, send, limit)
                    return
        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise _BodyTooLarge
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, limited_receive, tracking_send)
        except _BodyTooLarge:
            if not started:
                await self._reject(scope, receive, send, limit)

    @staticmethod
    async def _reject(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        response = problem(413, "payload_too_large", f"request body exceeds {limit} bytes")
        response.headers["Connection"] = "close"
        await response(scope, receive, send)


ReadinessCheck = Callable[[], Awaitable[bool]]


def install_health_routes(app: FastAPI, checks: Callable[[], dict[str, ReadinessCheck]]) -> None:
    """/healthz (the process is alive), /readyz (its dependencies answer), /metrics."""

    @app.get(
        "/healthz",
        tags=["operations"],
        summary="Liveness",
        responses={200: {"content": {"application/json": {"example": {"status": "ok"}}}}},
    )
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["operations"],
        summary="Readiness: Kafka and PostgreSQL reachable",
        responses={
            200: {
                "description": "Every dependency answers",
                "content": {
                    "application/json": {
                        "example": {"status": "ready", "checks": {"kafka": "ok", "postgres": "ok"}}
                    }
                },
            },
            503: {
                "description": "A dependency is down (the same body, `not_ready`)",
                "content": {
                    "application/json": {
                        "example": {
                            "status": "not_ready",
                            "checks": {"kafka": "down", "postgres": "ok"},
                        }
                    }
                },
            },
        },
    )
    async def readyz() -> Response:
        results = {name: await check() for name, check in checks().items()}
        ok = all(results.values())
        body = {
            "status": "ready" if ok else "not_ready",
            "checks": {k: "ok" if v else "down" for k, v in results.items()},
        }
        return JSONResponse(body, status_code=200 if ok else 503)

    app.add_route("/metrics", metrics_endpoint, include_in_schema=False)
