"""validate_lead and form_to_fields: field-named errors, normalization, limits."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.leads.schemas import (
    LEAD_FIELDS,
    MAX_CUSTOM_KEYS,
    LeadIn,
    LeadInvalid,
    form_to_fields,
    validate_lead,
)
from shared.events.models import LeadData


def _errors(fields: dict[str, Any]) -> list[dict[str, Any]]:
    with pytest.raises(LeadInvalid) as exc:
        validate_lead(fields)
    errors = exc.value.errors
    assert errors and all({"field", "message", "type"} <= set(e) for e in errors)
    return errors


def _fields(fields: dict[str, Any]) -> set[str]:
    return {e["field"] for e in _errors(fields)}


def test_valid_lead_is_normalized() -> None:
    lead = validate_lead(
        {
            "email": "  Ada.Lovelace@Analytical.CO.UK ",
            "phone": "020 7946 0018",
            "country": "gb",
            "first_name": "  Ada ",
            "website": "https://www.analytical.co.uk/about",
            "company_size": "250",
            "timezone": "Europe/London",
            "utm_source": "google",
            "custom": {"plan": "pro", "seats": 5, "trial": True, "score": 0.5},
        }
    )
    assert isinstance(lead, LeadData)
    assert lead.email == "ada.lovelace@analytical.co.uk"
    assert lead.phone == "+442079460018"
    assert lead.country == "GB"
    assert lead.first_name == "Ada"
    assert lead.company_domain == "analytical.co.uk"
    assert lead.company_size == "201-500"
    assert lead.utm.source == "google"
    assert lead.custom == {"plan": "pro", "seats": 5, "trial": True, "score": 0.5}


def test_example_in_the_schema_is_valid() -> None:
    example = LeadIn.model_config["json_schema_extra"]["examples"][0]  # type: ignore[index]
    lead = validate_lead(dict(example))
    assert lead.email == "ada@example.com" and lead.company_size == "201-500"


def test_unknown_field_is_named() -> None:
    errors = _errors({"email": "ada@example.com", "favourite_colour": "blue"})
    assert errors == [
        {
            "field": "favourite_colour",
            "message": "unknown field 'favourite_colour'",
            "type": "extra_forbidden",
        }
    ]


def test_bad_email_is_named() -> None:
    assert _fields({"email": "not-an-email"}) == {"email"}


@pytest.mark.parametrize("phone", ["abc", "12", "555-0123"])
def test_bad_phone_is_named(phone: str) -> None:
    assert "phone" in _fields({"phone": phone, "country": "US"})


def test_several_bad_fields_are_all_named() -> None:
    assert _fields({"email": "nope", "phone": "nope", "timezone": "Mars/Base", "bogus": 1}) == {
        "email",
        "phone",
        "timezone",
        "bogus",
    }


@pytest.mark.parametrize(
    ("phone", "country", "expected"),
    [
        ("030 12345678", "DE", "+493012345678"),
        ("030 12345678", "de", "+493012345678"),
        ("(415) 555-0123", "US", "+14155550123"),
        ("+44 20 7946 0018", "US", "+442079460018"),  # explicit country code wins
        ("+1 415 555 0123", None, "+14155550123"),
    ],
)
def test_phone_uses_country_as_default_region(
    phone: str, country: str | None, expected: str
) -> None:
    fields = {"phone": phone} | ({"country": country} if country else {})
    assert validate_lead(fields).phone == expected


def test_national_phone_without_country_is_invalid() -> None:
    assert _fields({"phone": "030 12345678"}) == {"phone"}


def test_invalid_country_is_named() -> None:
    assert "country" in _fields({"email": "ada@example.com", "country": "XX"})


@pytest.mark.parametrize(
    "fields",
    [
        {},
        {"first_name": "Ada", "company": "Acme"},
        {"email": "", "phone": ""},
        {"email": "   ", "phone": "\t", "first_name": "Ada"},
        {"email": None, "phone": None},
    ],
)
def test_requires_email_or_phone(fields: dict[str, Any]) -> None:
    errors = _errors(fields)
    assert errors == [
        {
            "field": "email",
            "message": "at least one of email or phone is required",
            "type": "missing",
        }
    ]


def test_either_contact_is_enough() -> None:
    assert validate_lead({"email": "ada@example.com"}).phone is None
    assert validate_lead({"phone": "+14155550123"}).email is None


def test_blank_strings_are_missing() -> None:
    lead = validate_lead(
        {
            "email": "ada@example.com",
            "phone": "  ",
            "company_size": "",
            "timezone": " ",
            "country": "",
            "first_name": "",
        }
    )
    assert (lead.phone, lead.company_size, lead.timezone, lead.country, lead.first_name) == (
        None,
    ) * 5


@pytest.mark.parametrize(
    ("size", "band"),
    [
        (250, "201-500"),
        ("250", "201-500"),
        ("201 to 500", "201-500"),
        ("5000+", "5001+"),
        ("1,200", "1001-5000"),
        (3, "1-10"),
    ],
)
def test_company_size_is_banded(size: str | int, band: str) -> None:
    assert validate_lead({"email": "ada@example.com", "company_size": size}).company_size == band


@pytest.mark.parametrize("size", ["lots", "0", 0, "10-1", -4])
def test_bad_company_size_is_named(size: str | int) -> None:
    assert _fields({"email": "ada@example.com", "company_size": size}) == {"company_size"}


def test_boolean_company_size_is_rejected() -> None:
    assert _fields({"email": "ada@example.com", "company_size": True}) == {"company_size"}


@pytest.mark.parametrize("tz", ["Europe/Berlin", "America/New_York", "UTC", "Asia/Kolkata"])
def test_valid_timezones(tz: str) -> None:
    assert validate_lead({"email": "ada@example.com", "timezone": tz}).timezone == tz


@pytest.mark.parametrize("tz", ["Mars/Base", "CEST", "europe/berlin", "+02:00"])
def test_invalid_timezone_is_named(tz: str) -> None:
    assert _fields({"email": "ada@example.com", "timezone": tz}) == {"timezone"}


def test_custom_map_limits() -> None:
    ok = {f"k{i}": i for i in range(MAX_CUSTOM_KEYS)}
    assert validate_lead({"email": "ada@example.com", "custom": ok}).custom == ok
    too_many = {f"k{i}": i for i in range(MAX_CUSTOM_KEYS + 1)}
    assert _fields({"email": "ada@example.com", "custom": too_many}) == {"custom"}
    assert _fields({"email": "ada@example.com", "custom": {"": 1}}) == {"custom"}
    assert _fields({"email": "ada@example.com", "custom": {"k" * 65: 1}}) == {"custom"}
    assert validate_lead({"email": "ada@example.com", "custom": {"k" * 64: "v" * 1000}}).custom
    assert _fields({"email": "ada@example.com", "custom": {"k": "v" * 1001}}) == {"custom"}


def test_custom_values_must_be_scalars() -> None:
    fields = _fields({"email": "ada@example.com", "custom": {"k": [1, 2]}})
    assert fields and all(f.startswith("custom") for f in fields)


def test_string_length_limits() -> None:
    assert _fields({"email": "ada@example.com", "first_name": "x" * 201}) == {"first_name"}
    assert _fields({"email": "ada@example.com", "form_id": "x" * 101}) == {"form_id"}


def test_free_mail_gives_no_company_domain() -> None:
    assert validate_lead({"email": "ada@gmail.com"}).company_domain is None
    assert (
        validate_lead({"email": "ada@gmail.com", "website": "acme.com"}).company_domain
        == "acme.com"
    )


@settings(max_examples=50, deadline=None)
@given(
    st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=20).filter(
        lambda k: k not in LEAD_FIELDS
    )
)
def test_any_unknown_field_is_named(key: str) -> None:
    assert key in _fields({"email": "ada@example.com", key: "x"})


# --- form_to_fields ------------------------------------------------------------------


def test_form_to_fields_with_custom_keys() -> None:
    body = b"email=ada%40example.com&first_name=Ada&custom%5Bplan%5D=pro&custom[seats]=5&company="
    assert form_to_fields(body) == {
        "email": "ada@example.com",
        "first_name": "Ada",
        "company": "",
        "custom": {"plan": "pro", "seats": "5"},
    }


def test_form_to_fields_then_validate() -> None:
    lead = validate_lead(
        form_to_fields(b"email=Ada%40Example.com&phone=&custom[plan]=pro&company_size=11-50")
    )
    assert (lead.email, lead.phone, lead.company_size, lead.custom) == (
        "ada@example.com",
        None,
        "11-50",
        {"plan": "pro"},
    )


def test_form_to_fields_without_custom_has_no_custom_key() -> None:
    assert "custom" not in form_to_fields(b"email=a%40b.com")


def test_form_duplicate_field_is_rejected() -> None:
    with pytest.raises(LeadInvalid) as exc:
        form_to_fields(b"email=a%40x.com&email=b%40x.com")
    assert exc.value.errors[0]["field"] == "email"
    assert exc.value.errors[0]["type"] == "duplicate"


def test_form_duplicate_custom_key_is_rejected() -> None:
    with pytest.raises(LeadInvalid):
        form_to_fields(b"email=a%40x.com&custom[plan]=free&custom[plan]=pro")


def test_form_ignored_keys_are_dropped() -> None:
    fields = form_to_fields(
        b"email=a%40x.com&csrf_token=1&csrf_token=2", ignore=frozenset({"csrf_token"})
    )
    assert fields == {"email": "a@x.com"}


def test_form_non_utf8_body_is_named() -> None:
    with pytest.raises(LeadInvalid) as exc:
        form_to_fields(b"first_name=Jos\xe9")
    assert exc.value.errors[0]["field"] == "body"


def test_form_unknown_field_is_named_by_validation() -> None:
    assert _fields(form_to_fields(b"email=a%40x.com&fax=123")) == {"fax"}
