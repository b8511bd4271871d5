"""Contact normalization: emails, phones, domains, match keys, company-size bands."""

from __future__ import annotations

import phonenumbers
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shared.domain.contact import (
    FREE_MAIL_DOMAINS,
    SIZE_BANDS,
    InvalidContact,
    MatchKey,
    band_for_employees,
    canonical_email,
    company_domain,
    domain_from_website,
    match_key,
    normalize_company_size,
    normalize_email,
    normalize_phone,
)

BAND_LABELS = [label for _, _, label in SIZE_BANDS]

# --- normalize_email -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("  Ada@Example.COM ", "ada@example.com"),
        ("John.Smith+promo@GoogleMail.com", "john.smith+promo@googlemail.com"),
        ("ÄDA@Bücher.de", "äda@bücher.de"),
    ],
)
def test_normalize_email_trims_and_lowercases(raw: str, expected: str) -> None:
    assert normalize_email(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "not-an-email",
        "a..b@example.com",
        "x@localhost",
        "user@[1.2.3.4]",
        '"a b"@example.com',
        "a@b@c.com",
    ],
)
def test_normalize_email_rejects_invalid_naming_email(raw: str) -> None:
    with pytest.raises(InvalidContact) as exc:
        normalize_email(raw)
    assert exc.value.field == "email"
    assert exc.value.message


@settings(max_examples=200, deadline=None)
@given(st.emails())
def test_normalize_email_idempotent_on_valid_addresses(raw: str) -> None:
    try:
        once = normalize_email(raw)
    except InvalidContact:
        assume(False)
        return
    assert normalize_email(once) == once
    assert once == once.lower().strip()


# --- canonical_email -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("John.Smith+promo@GoogleMail.com", "johnsmith@gmail.com"),
        ("johnsmith@gmail.com", "johnsmith@gmail.com"),
        ("j.o.h.n.smith@gmail.com", "johnsmith@gmail.com"),
        ("johnsmith+a+b@gmail.com", "johnsmith@gmail.com"),
        ("john.smith@googlemail.com", "johnsmith@gmail.com"),
        # plus tags dropped at other providers, but dots are significant there
        ("john.smith+news@outlook.com", "john.smith@outlook.com"),
        ("john.smith+x@icloud.com", "john.smith@icloud.com"),
        # corporate domains keep both dots and plus tags
        ("John.Smith@Acme.com", "john.smith@acme.com"),
        ("john.smith+crm@acme.com", "john.smith+crm@acme.com"),
    ],
)
def test_canonical_email_folds_provider_aliases(raw: str, expected: str) -> None:
    assert canonical_email(raw) == expected


def test_gmail_variants_are_one_mailbox_but_corporate_dots_are_not() -> None:
    gmail = {
        canonical_email(e)
        for e in ["a.b.c@gmail.com", "abc+x@gmail.com", "A.BC@googlemail.com", "abc@gmail.com"]
    }
    assert gmail == {"abc@gmail.com"}
    assert canonical_email("a.bc@acme.com") != canonical_email("abc@acme.com")


_local = st.text(alphabet="abcxyz019._+-", min_size=1, max_size=20)
_domain = st.sampled_from(
    [
        "gmail.com",
        "googlemail.com",
        "outlook.com",
        "icloud.com",
        "acme.com",
        "example.de",
        "GMail.com",
    ]
)


@settings(max_examples=300)
@given(_local, _domain)
def test_canonical_email_idempotent(local: str, domain: str) -> None:
    once = canonical_email(f"{local}@{domain}")
    assert canonical_email(once) == once


@settings(max_examples=150, deadline=None)
@given(st.emails())
def test_canonical_email_idempotent_on_normalized_addresses(raw: str) -> None:
    try:
        email = normalize_email(raw)
    except InvalidContact:
        assume(False)
        return
    once = canonical_email(email)
    assert canonical_email(once) == once
    domain = email.rpartition("@")[2]
    assert once.rpartition("@")[2] == ("gmail.com" if domain == "googlemail.com" else domain)


# --- normalize_phone -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("expected", "variants"),
    [
        (
            "+14155550123",
            [
                ("(415) 555-0123", "US"),
                ("415.555.0123", "US"),
                ("415 555 0123", "us"),
                ("1-415-555-0123", "US"),
                ("+1 415 555 0123", None),
                ("+1-415-555-0123", "DE"),
                ("+14155550123", None),
                ("  +1 (415) 555-0123  ", None),
            ],
        ),
        (
            "+493012345678",
            [
                ("030 12345678", "DE"),
                ("030/12345678", "DE"),
                ("+49 30 12345678", None),
                ("0049 30 12345678", "DE"),
                ("+49 (0)30 1234 5678", None),
            ],
        ),
        (
            "+442079460018",
            [
                ("020 7946 0018", "GB"),
                ("+44 20 7946 0018", None),
                ("+44 (0)20 7946 0018", None),
                ("0044 20 7946 0018", "GB"),
                ("(020) 7946-0018", "gb"),
            ],
        ),
    ],
)
def test_normalize_phone_formats_give_one_e164(
    expected: str, variants: list[tuple[str, str | None]]
) -> None:
    results = {normalize_phone(raw, region) for raw, region in variants}
    assert results == {expected}


@pytest.mark.parametrize(
    ("raw", "region"),
    [
        ("abc", None),
        ("12", None),
        ("", "US"),
        ("415 555 0123", None),  # no country code and no default region
        ("555-0123", "US"),  # too short to be valid
        ("+1 000 000 0000", None),
        ("+999 1234", None),
    ],
)
def test_normalize_phone_invalid_names_phone(raw: str, region: str | None) -> None:
    with pytest.raises(InvalidContact) as exc:
        normalize_phone(raw, region)
    assert exc.value.field == "phone"


_REGIONS = ["US", "DE", "GB", "FR", "IN", "BR", "AU", "JP", "CA", "NL"]


@pytest.mark.parametrize("region", _REGIONS)
def test_normalize_phone_example_numbers_round_trip(region: str) -> None:
    example = phonenumbers.example_number(region)
    national = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(
        example, phonenumbers.PhoneNumberFormat.INTERNATIONAL
    )
    e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
    assert normalize_phone(national, region) == e164
    assert normalize_phone(international) == e164
    assert normalize_phone(e164) == e164


@settings(max_examples=300)
@given(
    st.text(alphabet="0123456789 +-().", min_size=3, max_size=20),
    st.sampled_from([None, *_REGIONS]),
)
def test_normalize_phone_idempotent_on_its_output(raw: str, region: str | None) -> None:
    try:
        once = normalize_phone(raw, region)
    except InvalidContact as exc:
        assert exc.field == "phone"
        return
    assert once.startswith("+") and once[1:].isdigit()
    assert normalize_phone(once) == once
    # an E.164 number carries its country: any default region is irrelevant
    assert normalize_phone(once, "GB") == once


# --- domains -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("website", "expected"),
    [
        ("https://www.Acme.com/about", "acme.com"),
        ("acme.com", "acme.com"),
        ("www.acme.co.uk.", "acme.co.uk"),
        ("http://user:pw@Acme.io:8080/x?y=1#z", "acme.io"),
        ("Acme.com?utm=1", "acme.com"),
        ("  HTTPS://shop.acme.com  ", "shop.acme.com"),
        ("localhost", None),
        ("", None),
        ("https://", None),
    ],
)
def test_domain_from_website(website: str, expected: str | None) -> None:
    assert domain_from_website(website) == expected


def test_company_domain_prefers_website_then_corporate_email() -> None:
    assert company_domain("ada@analytical.co.uk", "https://www.acme.com") == "acme.com"
    assert company_domain("ada@Analytical.co.uk", None) == "analytical.co.uk"
    assert company_domain("ada@analytical.co.uk", "localhost") == "analytical.co.uk"
    assert company_domain(None, None) is None


@pytest.mark.parametrize(
    "domain", ["gmail.com", "googlemail.com", "yahoo.com", "outlook.com", "GMX.de", "web.de"]
)
def test_company_domain_excludes_free_mail(domain: str) -> None:
    assert company_domain(f"ada@{domain}", None) is None
    assert company_domain(f"ada@{domain}", "acme.com") == "acme.com"


def test_free_mail_domains_include_every_alias_provider() -> None:
    assert {"gmail.com", "googlemail.com", "outlook.com", "icloud.com"} <= FREE_MAIL_DOMAINS


# --- match_key -----------------------------------------------------------------------


def test_match_key_precedence_email_over_phone_over_lead() -> None:
    assert match_key("J.Doe+x@gmail.com", "+14155550123", "L1") == MatchKey(
        "email", "jdoe@gmail.com"
    )
    assert match_key(None, "+14155550123", "L1") == MatchKey("phone", "+14155550123")
    assert match_key("", "+14155550123", "L1") == MatchKey("phone", "+14155550123")
    assert match_key(None, None, "L1") == MatchKey("lead", "L1")
    assert match_key("", "", "L1") == MatchKey("lead", "L1")
    assert str(match_key("ada@acme.com", None, "L1")) == "email:ada@acme.com"
    assert str(match_key(None, None, "L1")) == "lead:L1"


def test_match_key_same_person_same_key() -> None:
    a = match_key("john.smith+promo@googlemail.com", "+14155550123", "L1")
    b = match_key("johnsmith@gmail.com", None, "L2")
    assert a == b


# --- company size --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (1, "1-10"),
        (10, "1-10"),
        (11, "11-50"),
        (50, "11-50"),
        (51, "51-200"),
        (500, "201-500"),
        (501, "501-1000"),
        (5000, "1001-5000"),
        (5001, "5001+"),
        ("250", "201-500"),
        ("1,000", "501-1000"),
        (" 42 ", "11-50"),
        ("201-500", "201-500"),
        ("201 to 500", "201-500"),
        ("501\u20131000", "501-1000"),
        (" 11 - 50 ", "11-50"),
        ("0-10", "1-10"),
        ("5000+", "5001+"),
        ("5001+", "5001+"),
        ("1000+", "1001-5000"),
    ],
)
def test_normalize_company_size(raw: str | int, expected: str) -> None:
    assert normalize_company_size(raw) == expected


@pytest.mark.parametrize("label", BAND_LABELS)
def test_band_labels_map_onto_themselves(label: str) -> None:
    assert normalize_company_size(label) == label


@pytest.mark.parametrize("raw", [0, -5, "0", "lots", "10-1", "", "abc+", "1-2-3"])
def test_normalize_company_size_invalid_names_company_size(raw: str | int) -> None:
    with pytest.raises(InvalidContact) as exc:
        normalize_company_size(raw)
    assert exc.value.field == "company_size"


def test_normalize_company_size_superscript_digit_is_invalid_contact() -> None:
    try:
        normalize_company_size("²")
    except InvalidContact as exc:
        assert exc.field == "company_size"
    except ValueError as exc:
        raise AssertionError(f"raised bare {type(exc).__name__}: {exc}") from None


def test_normalize_company_size_rejects_bool() -> None:
    with pytest.raises(InvalidContact):
        normalize_company_size(True)


_size_input = st.one_of(
    st.integers(min_value=-10, max_value=100_000),
    st.integers(min_value=0, max_value=20_000).map(str),
    st.tuples(
        st.integers(0, 20_000),
        st.integers(0, 20_000),
        st.sampled_from(["-", " - ", " to ", "\u2013"]),
    ).map(lambda t: f"{t[0]}{t[2]}{t[1]}"),
    st.integers(0, 20_000).map(lambda n: f"{n}+"),
    st.integers(1000, 20_000).map(lambda n: f"{n:,}"),
    st.sampled_from(BAND_LABELS),
    st.text(alphabet="0123456789-+, to", max_size=10),
)


@settings(max_examples=400)
@given(_size_input)
def test_normalize_company_size_idempotent(raw: str | int) -> None:
    try:
        once = normalize_company_size(raw)
    except InvalidContact as exc:
        assert exc.field == "company_size"
        return
    assert once in BAND_LABELS
    assert normalize_company_size(once) == once


@settings(max_examples=300)
@given(st.integers(min_value=1, max_value=10**7), st.integers(min_value=0, max_value=10**7))
def test_band_for_employees_monotone(a: int, delta: int) -> None:
    lo, hi = band_for_employees(a), band_for_employees(a + delta)
    assert BAND_LABELS.index(lo) <= BAND_LABELS.index(hi)


@settings(max_examples=200)
@given(st.integers(min_value=1, max_value=10**7))
def test_band_contains_employees(n: int) -> None:
    label = band_for_employees(n)
    low, high, _ = next(b for b in SIZE_BANDS if b[2] == label)
    assert low <= n and (high is None or n <= high)


@given(st.integers(max_value=0))
def test_band_for_employees_rejects_non_positive(n: int) -> None:
    with pytest.raises(InvalidContact):
        band_for_employees(n)
