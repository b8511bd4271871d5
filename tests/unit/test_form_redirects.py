"""Redirects for plain HTML forms: which requests get one, and where they are sent."""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest
from hypothesis import given
from hypothesis import strategies as st

from services.ingest.domain.redirects import (
    MAX_FIELDS,
    asks_for_json,
    error_location,
    form_location,
    is_form_navigation,
    offending_fields,
    redirect_url_problem,
    with_query,
)

FORM = "application/x-www-form-urlencoded"
BROWSER_ACCEPT = (
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8"
)
THANKS = "https://www.example.com/thanks"
OOPS = "https://www.example.com/form-error?form=demo"


@pytest.mark.parametrize(
    ("content_type", "accept", "expected"),
    [
        (FORM, BROWSER_ACCEPT, True),
        (FORM + "; charset=UTF-8", BROWSER_ACCEPT, True),
        (FORM, "", True),  # no Accept: anything will do
        (FORM, "*/*", True),
        (FORM, "application/json", False),
        (FORM, "application/problem+json, */*;q=0.1", False),
        (FORM, "text/html, Application/JSON;q=0.5", False),
        (FORM, "application/vnd.api+json", False),
        (FORM, "application/json;q=0, text/html", True),  # q=0: JSON is refused
        ("application/json", BROWSER_ACCEPT, False),
        ("application/json", "", False),
        ("multipart/form-data; boundary=x", BROWSER_ACCEPT, False),
        ("", BROWSER_ACCEPT, False),
    ],
)
def test_only_form_posts_that_do_not_ask_for_json_are_navigations(
    content_type: str, accept: str, expected: bool
) -> None:
    assert is_form_navigation(content_type, accept) is expected


def test_a_malformed_quality_still_counts_as_naming_json() -> None:
    assert asks_for_json("application/json;q=high")


def test_success_and_replay_go_to_the_thank_you_page() -> None:
    for status in (200, 202):
        assert form_location(status, thank_you_url=THANKS, error_url=OOPS) == THANKS


@pytest.mark.parametrize(
    ("status", "reason"), [(422, "invalid"), (429, "rate_limited"), (503, "unavailable")]
)
def test_agreed_errors_go_to_the_error_page_with_their_reason(status: int, reason: str) -> None:
    location = form_location(status, thank_you_url=THANKS, error_url=OOPS)
    assert location is not None
    parts = urlsplit(location)
    assert (parts.scheme, parts.netloc, parts.path) == ("https", "www.example.com", "/form-error")
    assert parse_qs(parts.query) == {"form": ["demo"], "reason": [reason]}


@pytest.mark.parametrize("status", [400, 401, 403, 409, 413, 415, 500])
def test_other_errors_stay_problem_documents(status: int) -> None:
    assert form_location(status, thank_you_url=THANKS, error_url=OOPS) is None


def test_invalid_input_names_the_fields_but_never_their_values() -> None:
    errors = [
        {"field": "email", "message": "'ada@@example.com' is not an email", "type": "value_error"},
        {"field": "phone", "message": "too short", "type": "value_error"},
        {"field": "email", "message": "again", "type": "value_error"},
    ]
    location = error_location("https://www.example.com/oops", 422, errors)
    assert location == "https://www.example.com/oops?reason=invalid&fields=email,phone"
    assert "ada" not in (location or "")


def test_fields_are_only_for_invalid_input() -> None:
    errors = [{"field": "email"}]
    assert error_location(OOPS, 429, errors) == OOPS + "&reason=rate_limited"


def test_field_names_that_do_not_look_like_form_fields_are_left_out() -> None:
    errors = [
        {"field": "custom.plan"},
        {"field": "custom[plan]"},
        {"field": "ada.lovelace@example.com"},
        {"field": "two words"},
        {"field": "x" * 65},
        {"field": ""},
        {},
    ]
    assert offending_fields(errors) == ["custom.plan", "custom[plan]"]
    assert error_location(THANKS, 422, errors[2:]) == THANKS + "?reason=invalid"


def test_at_most_a_few_fields_are_named() -> None:
    errors = [{"field": f"field_{i}"} for i in range(MAX_FIELDS + 5)]
    assert offending_fields(errors) == [f"field_{i}" for i in range(MAX_FIELDS)]


def test_with_query_keeps_the_query_and_fragment_and_replaces_same_names() -> None:
    assert (
        with_query("https://a.example/p?x=1&reason=old#top", [("reason", "invalid")])
        == "https://a.example/p?x=1&reason=invalid#top"
    )
    assert with_query("https://a.example", [("reason", "unavailable")]) == (
        "https://a.example?reason=unavailable"
    )


@given(st.lists(st.sampled_from(["email", "phone", "country", "custom.plan"]), max_size=8))
def test_the_error_url_always_parses_back_to_reason_and_fields(names: list[str]) -> None:
    location = error_location(OOPS, 422, [{"field": n} for n in names])
    assert location is not None
    query = parse_qs(urlsplit(location).query)
    assert query["reason"] == ["invalid"] and query["form"] == ["demo"]
    expected = list(dict.fromkeys(names))
    assert query.get("fields", [""])[0].split(",") == (expected or [""])


ORIGINS = ["https://www.example.com", "http://localhost:3000"]


@pytest.mark.parametrize(
    "url",
    [
        "https://www.example.com/thanks",
        "https://WWW.Example.com/thanks?x=1#done",
        "https://www.example.com:443/thanks",
        "http://localhost:3000/form-error.html",
    ],
)
def test_urls_on_an_allowed_origin_may_be_redirect_targets(url: str) -> None:
    assert redirect_url_problem(url, ORIGINS) is None


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("/thanks", "absolute"),
        ("www.example.com/thanks", "absolute"),
        ("javascript:alert(1)", "absolute"),
        ("ftp://www.example.com/thanks", "absolute"),
        ("https://evil.example/thanks", "allowed_origins"),
        ("http://www.example.com/thanks", "allowed_origins"),  # another scheme, another origin
        ("https://www.example.com.evil.example/thanks", "allowed_origins"),
        ("http://localhost:3001/thanks", "allowed_origins"),
        ("https://user:pw@www.example.com/thanks", "credentials"),
        ("http://localhost:99999/thanks", "valid"),
    ],
)
def test_other_urls_are_refused_with_the_reason(url: str, problem: str) -> None:
    found = redirect_url_problem(url, ORIGINS)
    assert found is not None and problem in found
