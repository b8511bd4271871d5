"""Every service's OpenAPI document: checked in, equal to what the app serves, valid, and
complete enough for a client generator (ids, refs, problem bodies, examples, security)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi import FastAPI
from openapi_spec_validator import validate

from shared.contracts import SERVICES, Service, openapi_text, render_openapi
from shared.http import PROBLEM_JSON
from shared.openapi import OPERATIONS_TAG
from shared.stack.common import REPO_ROOT

METHODS = {"get", "put", "post", "delete", "patch", "head", "options"}
_apps: dict[str, FastAPI] = {}


def _app(service: Service) -> FastAPI:
    if service.name not in _apps:
        _apps[service.name] = service.create_app()
    return _apps[service.name]


def _doc(service: Service) -> dict[str, Any]:
    return _app(service).openapi()


def _operations(doc: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in METHODS:
                yield f"{method.upper()} {path}", op


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                yield value
            else:
                yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def _resolve(doc: dict[str, Any], ref: str) -> Any:
    assert ref.startswith("#/"), f"{ref}: only local references"
    node: Any = doc
    for part in ref[2:].split("/"):
        part = part.replace("~1", "/").replace("~0", "~")
        assert isinstance(node, dict) and part in node, f"{ref} does not resolve"
        node = node[part]
    return node


by_service = pytest.mark.parametrize("service", SERVICES, ids=lambda s: s.name)


def test_every_service_with_an_app_is_registered() -> None:
    apps = {p.parent.name for p in (REPO_ROOT / "services").glob("*/app.py")}
    assert apps == {s.name for s in SERVICES}, (
        "list each services/*/app.py in shared.contracts.SERVICES"
    )


def test_render_covers_every_service_and_nothing_else() -> None:
    assert set(render_openapi()) == {s.openapi_path for s in SERVICES}
    on_disk = {p.parent.name for p in (REPO_ROOT / "services").glob("*/openapi.json")}
    assert on_disk == {s.name for s in SERVICES}


@by_service
def test_checked_in_document_equals_what_the_app_serves(service: Service) -> None:
    path = service.openapi_path
    assert path.exists(), f"{path} is not checked in; run `make openapi`"
    assert path.read_text() == openapi_text(_doc(service)), (
        f"services/{service.name}/openapi.json drifted from the app; run `make openapi`"
    )


@by_service
def test_document_is_valid_openapi(service: Service) -> None:
    doc = json.loads(service.openapi_path.read_text())
    assert doc["openapi"].startswith("3.1")
    validate(doc)


@by_service
def test_every_ref_resolves(service: Service) -> None:
    doc = _doc(service)
    refs = set(_refs(doc))
    assert refs
    for ref in refs:
        _resolve(doc, ref)


@by_service
def test_operation_ids_are_explicit_unique_and_usable(service: Service) -> None:
    ids = [op.get("operationId") for _, op in _operations(_doc(service))]
    assert all(ids), "every operation has an operationId"
    assert len(ids) == len(set(ids)), f"duplicate operation ids: {ids}"
    for op_id in ids:
        assert op_id.isidentifier() and op_id[0].islower(), op_id
        assert "_v1_" not in op_id and not op_id.endswith(("_get", "_post")), op_id


@by_service
def test_every_error_response_is_a_problem(service: Service) -> None:
    doc = _doc(service)
    assert "HTTPValidationError" not in doc["components"]["schemas"]
    for name, op in _operations(doc):
        if OPERATIONS_TAG in op.get("tags", []):
            continue  # readiness answers its own body, also with 503
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = response.get("content", {})
            assert set(content) == {PROBLEM_JSON}, f"{name} {status}: {sorted(content)}"
            media = content[PROBLEM_JSON]
            assert media["schema"] == {"$ref": "#/components/schemas/Problem"}, f"{name} {status}"
            for example in media["examples"].values():
                assert example["value"]["status"] == int(status), f"{name} {status}"
                assert example["value"]["type"] == f"urn:leadflow:error:{example['value']['code']}"


def test_problem_schema_has_rfc_9457_fields_and_field_errors() -> None:
    schemas = _doc(SERVICES[0])["components"]["schemas"]
    problem = schemas["Problem"]
    assert set(problem["required"]) == {"type", "title", "status", "code", "detail"}
    assert all(problem["properties"][f].get("description") for f in problem["properties"])
    assert set(schemas["FieldError"]["required"]) == {"field", "message", "type"}


@by_service
def test_every_body_has_an_example(service: Service) -> None:
    for name, op in _operations(_doc(service)):
        bodies = [("request", op["requestBody"])] if "requestBody" in op else []
        bodies += list(op["responses"].items())
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                assert "example" in media or media.get("examples"), (
                    f"{name} {where} {media_type}: no example"
                )


@by_service
def test_security_schemes_exist_and_every_operation_names_its_security(service: Service) -> None:
    doc = _doc(service)
    schemes = doc["components"]["securitySchemes"]
    assert schemes["adminToken"] == schemes["adminToken"] | {"type": "http", "scheme": "bearer"}
    for header in ("webhook-id", "webhook-timestamp", "webhook-signature", "X-Leadflow-Source"):
        assert any(s.get("name") == header for s in schemes.values()), header
    for name, op in _operations(doc):
        if OPERATIONS_TAG in op.get("tags", []):
            assert "security" not in op
            continue
        assert op.get("security"), f"{name} names no security"
        for requirement in op["security"]:
            assert set(requirement) <= set(schemes), f"{name}: {requirement}"
        if "401" in op["responses"]:
            assert "WWW-Authenticate" in op["responses"]["401"].get("headers", {}), name


@by_service
def test_admin_routes_document_the_admin_token_with_its_scopes_and_only_they(
    service: Service,
) -> None:
    """The document's security follows the code: routes behind a scope dependency name the
    scopes in their security requirement and document 401 and the 403 naming the scope; reads
    ask for read (or import), changes for admin or import."""
    from fastapi import routing

    from shared.credentials import required_scopes

    app = _app(service)
    doc = _doc(service)
    by_id = {op["operationId"]: op for _, op in _operations(doc)}
    seen = 0
    for route in routing.iter_route_contexts(app.routes):
        if not isinstance(route.original_route, routing.APIRoute):
            continue
        if not getattr(route, "include_in_schema", True):
            continue
        scopes = _scopes(route.dependant)  # type: ignore[attr-defined]
        op = by_id[route.unique_id]  # type: ignore[attr-defined]
        uses_token = any("adminToken" in requirement for requirement in op.get("security", []))
        assert uses_token == bool(scopes), route.unique_id  # type: ignore[attr-defined]
        if not scopes:
            continue
        seen += 1
        assert op["security"] == [{"adminToken": list(scopes)}]
        assert "401" in op["responses"], f"{route.unique_id}: its 401 is not documented"  # type: ignore[attr-defined]
        forbidden = op["responses"]["403"]["content"][PROBLEM_JSON]["examples"]
        assert all(f"'{s}'" in forbidden["insufficient_scope"]["value"]["detail"] for s in scopes)
        methods = route.original_route.methods  # type: ignore[attr-defined]
        if methods <= {"GET", "HEAD"} and route.path.endswith("/secrets"):  # type: ignore[attr-defined]
            assert scopes == ("admin",), route.unique_id  # type: ignore[attr-defined]  # reveals secrets
        elif methods <= {"GET", "HEAD"}:
            assert "read" in scopes, route.unique_id  # type: ignore[attr-defined]
        else:
            assert set(scopes) <= {"admin", "import"}, route.unique_id  # type: ignore[attr-defined]
    assert seen, "no token-protected route found"
    assert required_scopes(len) == ()


def _scopes(dependant: Any) -> tuple[str, ...]:
    from shared.credentials import required_scopes

    found = tuple(s.value for s in required_scopes(dependant.call))
    for sub in dependant.dependencies:
        found = found or _scopes(sub)
    return found


def test_submit_lead_documents_signing_idempotency_and_the_form_redirect() -> None:
    op = _doc(SERVICES[0])["paths"]["/v1/leads"]["post"]
    assert op["operationId"] == "submitLead"
    assert {"webhookId", "webhookTimestamp", "webhookSignature", "source"} in [
        set(r) for r in op["security"]
    ]
    assert {"source", "origin"} in [set(r) for r in op["security"]]
    responses = op["responses"]
    assert "Idempotent-Replayed" in responses["202"]["headers"]
    assert "Location" in responses["303"]["headers"] and "reason" in responses["303"]["description"]
    for status in ("409", "429", "503"):
        assert "Retry-After" in responses[status]["headers"], status
    assert "replayed" not in responses["401"]["content"][PROBLEM_JSON]["examples"]
    assert set(op["requestBody"]["content"]) == {
        "application/json",
        "application/x-www-form-urlencoded",
    }
