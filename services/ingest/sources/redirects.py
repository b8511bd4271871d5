"""Plain HTML forms of a public source with a ``redirect`` are answered 303 See Other.

Authentication marks the request (:func:`mark_form_navigation`) once the origin check has
passed; the lead endpoint then redirects a success to the thank-you page, and the error
handler installed by :func:`install_error_redirects` turns the agreed errors (422, 429, 503)
into a redirect to the error page. The decisions are pure, in
:mod:`services.ingest.domain.redirects`; the rejection and acceptance counters are counted
where the errors are raised, so they count these requests as any other.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from fastapi import FastAPI, Request
from starlette.responses import RedirectResponse, Response

from services.ingest.domain.redirects import form_location, is_form_navigation
from services.ingest.sources.config import FormRedirect, Source
from shared.http import ApiError, problem

_STATE = "form_redirect"


def mark_form_navigation(request: Request, source: Source) -> None:
    """Remember that this request is a plain form post to a source with a redirect."""
    redirect = source.config.redirect
    headers = request.headers
    if redirect is not None and is_form_navigation(
        headers.get("content-type", ""), headers.get("accept", "")
    ):
        setattr(request.state, _STATE, redirect)


def redirect_location(
    request: Request, status: int, errors: Iterable[Mapping[str, Any]] = ()
) -> str | None:
    """The page a marked request is sent to for an answer of ``status``, else None."""
    redirect: FormRedirect | None = getattr(request.state, _STATE, None)
    if redirect is None:
        return None
    return form_location(
        status, errors, thank_you_url=redirect.thank_you_url, error_url=redirect.error_url
    )


def see_other(location: str, headers: Mapping[str, str] | None = None) -> RedirectResponse:
    return RedirectResponse(location, status_code=303, headers=dict(headers or {}))


def install_error_redirects(app: FastAPI) -> None:
    """Over :func:`shared.http.install_error_handlers`: an ``ApiError`` of a marked request
    becomes a redirect to the error page where one is agreed, else the problem document."""

    @app.exception_handler(ApiError)
    async def _api_error(request: Request, exc: ApiError) -> Response:
        location = redirect_location(request, exc.status, exc.errors)
        if location is not None:
            return see_other(location, exc.headers)  # keeps Retry-After
        return problem(exc.status, exc.code, exc.detail, exc.errors, exc.headers)
