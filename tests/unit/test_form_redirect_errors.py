"""The ingest error handler over a marked request: 422, 429 and 503 become a 303 to the
error page, everything else stays a problem document (in process, no Kafka needed for the
503 a Kafka outage raises)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request

from services.ingest.sources.config import FormRedirect, Source, SourceConfig
from services.ingest.sources.redirects import install_error_redirects, mark_form_navigation
from shared.http import PROBLEM_JSON, ApiError, install_error_handlers

BROWSER = {
    "content-type": "application/x-www-form-urlencoded",
    "accept": "text/html,application/xhtml+xml,*/*;q=0.8",
}
SOURCE = Source(
    config=SourceConfig(
        id="site-form",
        kind="public",
        allowed_origins=["https://www.example.com"],
        redirect=FormRedirect(
            thank_you_url="https://www.example.com/thanks",
            error_url="https://www.example.com/oops?form=demo",
        ),
    )
)
WITHOUT_REDIRECT = Source(config=SOURCE.config.model_copy(update={"redirect": None}))


def _app() -> FastAPI:
    app = FastAPI()
    install_error_handlers(app)
    install_error_redirects(app)

    @app.post("/fail/{status}")
    async def fail(request: Request, status: int, redirect: bool = True) -> None:
        mark_form_navigation(request, SOURCE if redirect else WITHOUT_REDIRECT)
        raise ApiError(
            status,
            "some_code",
            "refused",
            errors=[{"field": "email", "message": "not an email", "type": "value_error"}],
            headers={"Retry-After": "7"},
        )

    @app.post("/unmarked/{status}")
    async def unmarked(status: int) -> None:
        raise ApiError(status, "some_code", "refused")

    return app


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=_app())
    async with httpx.AsyncClient(transport=transport, base_url="http://ingest") as c:
        yield c


@pytest.mark.parametrize(
    ("status", "query"),
    [
        (422, {"form": ["demo"], "reason": ["invalid"], "fields": ["email"]}),
        (429, {"form": ["demo"], "reason": ["rate_limited"]}),
        (503, {"form": ["demo"], "reason": ["unavailable"]}),
    ],
)
async def test_agreed_errors_of_a_form_navigation_redirect_to_the_error_page(
    client: httpx.AsyncClient, status: int, query: dict[str, list[str]]
) -> None:
    response = await client.post(f"/fail/{status}", content=b"email=x", headers=BROWSER)
    assert response.status_code == 303
    location = urlsplit(response.headers["location"])
    assert (location.netloc, location.path) == ("www.example.com", "/oops")
    assert parse_qs(location.query) == query
    assert response.headers["retry-after"] == "7"


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 415])
async def test_other_errors_stay_problem_documents(client: httpx.AsyncClient, status: int) -> None:
    response = await client.post(f"/fail/{status}", content=b"email=x", headers=BROWSER)
    assert response.status_code == status
    assert response.headers["content-type"].startswith(PROBLEM_JSON)


@pytest.mark.parametrize(
    ("path", "headers"),
    [
        ("/fail/503", {**BROWSER, "accept": "application/json"}),  # asks for JSON
        ("/fail/503", {**BROWSER, "content-type": "application/json"}),  # a JSON body
        ("/fail/503?redirect=false", BROWSER),  # a source without redirect
        ("/unmarked/503", BROWSER),  # not marked by authentication (e.g. origin refused)
    ],
)
async def test_json_clients_and_unmarked_requests_get_problem_documents(
    client: httpx.AsyncClient, path: str, headers: dict[str, str]
) -> None:
    response = await client.post(path, content=b"email=x", headers=headers)
    assert response.status_code == 503
    assert response.headers["content-type"].startswith(PROBLEM_JSON)
    assert response.json()["code"] == "some_code"
