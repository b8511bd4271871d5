"""What every service's OpenAPI document shares: the problem+json error body, the security
schemes, response headers, examples, operation ids; and the pass that finishes a FastAPI
document with them (``install_openapi``)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from fastapi import FastAPI, routing
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, Field

from shared.http import PROBLEM_JSON

REF = "#/components/schemas/{model}"
OPERATIONS_TAG = "operations"  # health and readiness: no credentials, no problem bodies


# --- the error body ------------------------------------------------------------------------


class FieldError(BaseModel):
    """One problem with one field of the request."""

    field: str = Field(
        description="the field, dotted for nested ones (`custom.plan`); a header name "
        "(`X-Leadflow-Source`, `Idempotency-Key`, `Content-Type`) or `body` for the whole body"
    )
    message: str = Field(description="what is wrong, for a person")
    type: str = Field(
        description="a machine-readable kind: missing, value_error, extra_forbidden ..."
    )


class Problem(BaseModel):
    """An RFC 9457 problem document (`application/problem+json`), with leadflow's stable
    machine-readable `code` and, for invalid input, every offending field in `errors`."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "type": "urn:leadflow:error:validation_error",
                    "title": "validation error",
                    "status": 422,
                    "code": "validation_error",
                    "detail": "invalid lead: email",
                    "errors": [
                        {
                            "field": "email",
                            "message": "not a valid email address",
                            "type": "value_error",
                        }
                    ],
                }
            ]
        }
    )

    type: str = Field(description="`urn:leadflow:error:<code>`")
    title: str = Field(description="the code in words")
    status: int = Field(description="the HTTP status code")
    code: str = Field(description="stable, machine-readable: what a client branches on")
    detail: str = Field(description="this occurrence, for a person")
    errors: list[FieldError] | None = Field(
        None, description="the offending fields (invalid input); absent otherwise"
    )


@dataclass(frozen=True)
class Answer:
    """One problem an operation may answer: its status, code and an example occurrence."""

    status: int
    code: str
    detail: str
    summary: str = ""
    errors: tuple[tuple[str, str, str], ...] = ()  # (field, message, type)
    headers: tuple[str, ...] = ()  # names in HEADERS the answer carries
    name: str = ""  # example name when one status has two answers with one code

    def example(self) -> dict[str, Any]:
        """The body ``shared.http.problem`` sends for it."""
        body: dict[str, Any] = {
            "type": f"urn:leadflow:error:{self.code}",
            "title": self.code.replace("_", " "),
            "status": self.status,
            "code": self.code,
            "detail": self.detail,
        }
        if self.errors:
            body["errors"] = [{"field": f, "message": m, "type": t} for f, m, t in self.errors]
        return body


# --- response headers ----------------------------------------------------------------------

HEADERS: dict[str, dict[str, Any]] = {
    "Retry-After": {
        "description": "Seconds to wait before sending the request again.",
        "schema": {"type": "integer", "minimum": 1},
        "example": 5,
    },
    "Idempotent-Replayed": {
        "description": "`true` when this is the stored first answer to an earlier request "
        "with the same idempotency key (nothing new was published).",
        "schema": {"type": "string", "enum": ["true"]},
        "example": "true",
    },
    "WWW-Authenticate": {
        "description": "The credentials the operation takes: `Bearer` for an admin token (with "
        '`error="insufficient_scope", scope="..."` when the token lacks the scope); '
        '`Signature realm="leadflow", headers="webhook-id webhook-timestamp '
        'webhook-signature"` for a signed source.',
        "schema": {"type": "string"},
        "example": "Bearer",
    },
    "Location": {
        "description": "Where the answer points to.",
        "schema": {"type": "string", "format": "uri-reference"},
        "example": "/v1/imports/5f0c8a52-8d9e-4d4e-9d57-1f0b7c1f2a10",
    },
}


def header_ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/headers/{_component_name(name)}"}


def _component_name(header: str) -> str:
    return header.replace("-", "")


# --- security ------------------------------------------------------------------------------

SECURITY_SCHEMES: dict[str, dict[str, Any]] = {
    "adminToken": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>`: imports and the admin APIs. A token is "
        "named (a person or a tool) and holds scopes: `read` (the GETs of the admin APIs), "
        "`admin` (changes; implies read), `import` (trade-show and list imports), `activities`. "
        "Tokens are listed, as SHA-256 hashes, in `LEADFLOW_ADMIN_TOKENS_FILE` (`leadflow tokens "
        "new`); an operation names the scopes it needs (one of) in its security requirement. "
        "No, an unknown or an expired token: 401; a token without the scope: 403 "
        "`insufficient_scope`. The deprecated `LEADFLOW_ADMIN_TOKEN` holds every scope.",
    },
    "source": {
        "type": "apiKey",
        "in": "header",
        "name": "X-Leadflow-Source",
        "description": "The id of a configured source (`deploy/config/sources.yaml`).",
    },
    "sourceQuery": {
        "type": "apiKey",
        "in": "query",
        "name": "source",
        "description": "The source id as a query parameter: all an HTML form can set.",
    },
    "webhookId": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-id",
        "description": "Standard Webhooks message id; the idempotency key of a signed source.",
    },
    "webhookTimestamp": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-timestamp",
        "description": "Standard Webhooks: Unix seconds; within 5 minutes of the server's clock.",
    },
    "webhookSignature": {
        "type": "apiKey",
        "in": "header",
        "name": "webhook-signature",
        "description": "Standard Webhooks: `v1,` + base64 HMAC-SHA256 of "
        "`<webhook-id>.<webhook-timestamp>.<body>` with the source's secret (the bytes after "
        "`whsec_`, base64-decoded); several space-separated while secrets rotate.",
    },
    "origin": {
        "type": "apiKey",
        "in": "header",
        "name": "Origin",
        "description": "A public source accepts only the browser origins it allows.",
    },
    "idempotencyKey": {
        "type": "apiKey",
        "in": "header",
        "name": "Idempotency-Key",
        "description": "Optional for unsigned (public) sources, 1-256 characters: a retry with "
        "the same key and body gets the first answer. Signed sources use `webhook-id`.",
    },
}

Security = list[dict[str, list[str]]]
ADMIN: Security = [{"adminToken": []}]
_SIGNATURE: dict[str, list[str]] = {"webhookId": [], "webhookTimestamp": [], "webhookSignature": []}
SIGNED: Security = [{"source": [], **_SIGNATURE}, {"sourceQuery": [], **_SIGNATURE}]
PUBLIC: Security = [
    {"source": [], "origin": []},
    {"sourceQuery": [], "origin": []},
    {"source": [], "origin": [], "idempotencyKey": []},
    {"sourceQuery": [], "origin": [], "idempotencyKey": []},
]


# --- helpers for route decorators ----------------------------------------------------------


class OperationExtra(dict[str, Any]):
    """``openapi_extra`` for a route: its security, and a request body given as models that
    :func:`install_openapi` registers in ``components`` (so every ``$ref`` resolves)."""

    models: tuple[type[BaseModel], ...] = ()


def operation(
    *,
    security: Security | None = None,
    body: type[BaseModel] | None = None,
    media_types: Iterable[str] = ("application/json",),
    body_description: str | None = None,
) -> OperationExtra:
    extra = OperationExtra()
    if security is not None:
        extra["security"] = security
    if body is not None:
        ref = {"$ref": REF.format(model=body.__name__)}
        request: dict[str, Any] = {
            "required": True,
            "content": {m: {"schema": ref} for m in media_types},
        }
        if body_description:
            request["description"] = body_description
        extra["requestBody"] = request
        extra.models = (body,)
    return extra


def errors(*answers: Answer, descriptions: Mapping[int, str] | None = None) -> dict[int | str, Any]:
    """``responses=`` entries for the problems an operation answers, one per status: the
    Problem schema as `application/problem+json`, an example per answer, their headers."""
    by_status: dict[int, list[Answer]] = {}
    for a in answers:
        by_status.setdefault(a.status, []).append(a)
    out: dict[int | str, Any] = {}
    for status, group in sorted(by_status.items()):
        headers: dict[str, Any] = {}
        for a in group:
            headers.update({h: header_ref(h) for h in a.headers})
        description = (descriptions or {}).get(status) or "; ".join(
            dict.fromkeys(a.summary or a.detail for a in group)
        )
        entry: dict[str, Any] = {
            "description": description,
            "content": {
                PROBLEM_JSON: {
                    "schema": {"$ref": REF.format(model="Problem")},
                    "examples": {
                        a.name or a.code: {"summary": a.summary or a.detail, "value": a.example()}
                        for a in group
                    },
                }
            },
        }
        if headers:
            entry["headers"] = headers
        out[status] = entry
    return out


def ok(
    example: Any,
    description: str = "OK",
    *,
    headers: Iterable[str] = (),
    media_type: str = "application/json",
) -> dict[str, Any]:
    """A success response entry with an example body (for ``responses=``)."""
    entry: dict[str, Any] = {
        "description": description,
        "content": {media_type: {"example": example}},
    }
    if headers:
        entry["headers"] = {h: header_ref(h) for h in headers}
    return entry


# --- common problems -----------------------------------------------------------------------

ADMIN_UNAUTHORIZED = Answer(
    401,
    "unauthorized",
    "a valid admin bearer token is required",
    summary="No, an unknown or an expired admin bearer token",
    headers=("WWW-Authenticate",),
)


def insufficient_scope(scopes: Iterable[str]) -> Answer:
    """The 403 of a token that holds none of ``scopes`` (``shared.credentials``)."""
    named = " or ".join(repr(s) for s in scopes)
    return Answer(
        403,
        "insufficient_scope",
        f"token 'alice' lacks the scope {named}",
        summary=f"The token lacks the scope {named}",
        headers=("WWW-Authenticate",),
    )


def invalid(field: str, message: str, summary: str = "", *, kind: str = "value_error") -> Answer:
    """A 422 naming the field, as ``shared.http.invalid_field`` or the validation handler sends."""
    return Answer(
        422,
        "validation_error",
        message,
        summary=summary or f"Invalid {field}",
        errors=((field, message, kind),),
        name=f"validation_error.{field}",
    )


def request_invalid(field: str = "body.email", message: str = "Field required") -> Answer:
    """FastAPI's request validation, answered by ``install_error_handlers`` as a problem."""
    name = field.split(".", 1)[-1]
    return Answer(
        422,
        "validation_error",
        f"invalid request: {name}",
        summary="Invalid request: errors[].field names each problem",
        errors=((name, message, "missing" if message == "Field required" else "value_error"),),
        name=f"validation_error.{name}",
    )


def not_found(detail: str, summary: str = "", *, code: str = "not_found") -> Answer:
    return Answer(404, code, detail, summary=summary or detail)


# --- operation ids -------------------------------------------------------------------------


def operation_id(route: APIRoute) -> str:
    """A stable camelCase operation id from the endpoint's name (``submit_lead`` ->
    ``submitLead``), for ``FastAPI(generate_unique_id_function=...)``; a route's explicit
    ``operation_id=`` wins."""
    head, *rest = route.name.split("_")
    return head + "".join(p[:1].upper() + p[1:] for p in rest)


# --- the finishing pass --------------------------------------------------------------------


def install_openapi(app: FastAPI, *, security: Security = ADMIN) -> None:
    """Serve (and render) the app's document finished by :func:`finish`; ``security`` is what
    an operation takes when its route names none (health routes take none)."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if not getattr(app, "_leadflow_openapi_finished", False):
            finish(generate(), app.routes, security)
            app._leadflow_openapi_finished = True  # type: ignore[attr-defined]
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]


def _schemas_of(model: type[BaseModel]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=REF)
    found = schema.pop("$defs", {})
    return {**found, model.__name__: schema}


def finish(doc: dict[str, Any], routes: Iterable[Any], security: Security) -> dict[str, Any]:
    """Complete a FastAPI document in place: the shared components, problem+json for request
    validation errors, each operation's security, an example on every body."""
    components = doc.setdefault("components", {})
    schemas = components.setdefault("schemas", {})
    models: list[type[BaseModel]] = [Problem]
    for route in routing.iter_route_contexts(list(routes)):
        extra = getattr(route, "openapi_extra", None)
        if isinstance(extra, OperationExtra):
            models.extend(extra.models)
    for model in models:
        for name, schema in _schemas_of(model).items():
            schemas.setdefault(name, schema)
    components["securitySchemes"] = SECURITY_SCHEMES
    components["headers"] = {_component_name(h): obj for h, obj in HEADERS.items()}

    validation = errors(request_invalid())[422]
    scoped = _scopes_by_operation(routes)
    for op in _operations(doc):
        health = OPERATIONS_TAG in op.get("tags", [])
        scopes = scoped.get(op.get("operationId", ""))
        if scopes:
            op["security"] = [{"adminToken": list(scopes)}]
            responses = op.setdefault("responses", {})
            responses.update({str(k): v for k, v in errors(ADMIN_UNAUTHORIZED).items()
                              if str(k) not in responses})  # fmt: skip
            responses["403"] = errors(insufficient_scope(scopes))[403]
            op["responses"] = dict(sorted(responses.items()))
        if not health:
            op.setdefault("security", security)
        for response in op.get("responses", {}).values():
            content = response.get("content", {})
            if _is_fastapi_validation(content):
                response["content"] = validation["content"]
                response["description"] = validation["description"]
        for media in _media_types(op):
            _add_example(media, schemas)
    for unused in ("HTTPValidationError", "ValidationError"):
        if unused in schemas and f'"{REF.format(model=unused)}"' not in _text(doc):
            del schemas[unused]
    return doc


def _scopes_by_operation(routes: Iterable[Any]) -> dict[str, tuple[str, ...]]:
    """operation id -> the scopes its bearer-token dependency asks for (one of)."""
    from shared.credentials import required_scopes

    out: dict[str, tuple[str, ...]] = {}

    def walk(dependant: Any) -> tuple[str, ...]:
        found = tuple(s.value for s in required_scopes(dependant.call))
        for sub in dependant.dependencies:
            found = found or walk(sub)
        return found

    for route in routing.iter_route_contexts(list(routes)):
        if isinstance(route.original_route, APIRoute):
            scopes = walk(route.dependant)
            if scopes:
                out[route.unique_id] = scopes
    return out


def _operations(doc: dict[str, Any]) -> Iterable[dict[str, Any]]:
    for item in doc.get("paths", {}).values():
        for method, op in item.items():
            if method in {"get", "put", "post", "delete", "patch", "head", "options"}:
                yield op


def _media_types(op: dict[str, Any]) -> Iterable[dict[str, Any]]:
    yield from op.get("requestBody", {}).get("content", {}).values()
    for response in op.get("responses", {}).values():
        yield from response.get("content", {}).values()


def _is_fastapi_validation(content: dict[str, Any]) -> bool:
    ref = content.get("application/json", {}).get("schema", {}).get("$ref", "")
    return bool(ref.endswith("/HTTPValidationError"))


def _add_example(media: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body without an example takes its schema's ``examples`` (a model's)."""
    if "example" in media or "examples" in media:
        return
    schema = media.get("schema", {})
    # an optional body is anyOf [the model, null]: its example is the model's
    refs = [s["$ref"] for s in [schema, *schema.get("anyOf", [])] if "$ref" in s]
    if refs:
        schema = schemas.get(refs[0].rsplit("/", 1)[-1], {})
    found = schema.get("examples")
    if not found:
        return
    if len(found) == 1:
        media["example"] = found[0]
    else:
        media["examples"] = {f"example{i}": {"value": v} for i, v in enumerate(found, 1)}


def _text(doc: dict[str, Any]) -> str:
    return json.dumps(doc)
