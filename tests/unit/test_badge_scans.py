"""Badge-scan CSV files: header aliases, overrides, decoding and CSV dialects."""

from __future__ import annotations

import csv
import io

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.domain.badge_scans import (
    ColumnPlan,
    FileInvalid,
    decode,
    normalize_header,
    plan_columns,
    read_rows,
    to_fields,
)
from services.ingest.leads.schemas import LEAD_FIELDS

SCANNER_HEADERS = [
    "Badge ID",
    "Email Address",
    "First Name",
    "Last Name",
    "Company Name",
    "Job Title",
    "Phone Number",
    "Country",
    "Notes",
    "Scan Time",
]


def test_normalize_header() -> None:
    assert normalize_header(" E-Mail Address ") == "emailaddress"
    assert normalize_header("Job_Title") == "jobtitle"


def test_plan_maps_common_scanner_headers() -> None:
    plan = plan_columns(SCANNER_HEADERS, known_fields=LEAD_FIELDS)
    assert plan.mapping == {
        "Email Address": "email",
        "First Name": "first_name",
        "Last Name": "last_name",
        "Company Name": "company",
        "Job Title": "job_title",
        "Phone Number": "phone",
        "Country": "country",
        "Notes": "message",
    }
    assert plan.ignored == ["Badge ID", "Scan Time"]
    assert set(plan.mapping.values()) <= LEAD_FIELDS


@pytest.mark.parametrize(
    ("header", "field"),
    [
        ("E-mail", "email"),
        ("Work Email", "email"),
        ("Mobile Phone", "phone"),
        ("Given Name", "first_name"),
        ("Surname", "last_name"),
        ("Organisation", "company"),
        ("Company Website", "website"),
        ("Number of Employees", "company_size"),
        ("State/Province", "region"),
        ("Time Zone", "timezone"),
        ("GDPR Consent", "marketing_consent"),
    ],
)
def test_plan_aliases(header: str, field: str) -> None:
    plan = plan_columns(["Email", header] if field != "email" else [header])
    assert plan.mapping[header] == field


def test_every_mapped_alias_is_a_lead_field() -> None:
    from services.ingest.domain.badge_scans import HEADER_ALIASES

    assert set(HEADER_ALIASES.values()) <= LEAD_FIELDS


def test_overrides_win_and_empty_string_drops() -> None:
    headers = ["Email Address", "Company Name", "Organisation", "Q1", "Notes"]
    plan = plan_columns(
        headers,
        {"Q1": "industry", "Company Name": "", "Organisation": "company"},
        known_fields=LEAD_FIELDS,
    )
    assert plan.mapping == {
        "Email Address": "email",
        "Organisation": "company",
        "Q1": "industry",
        "Notes": "message",
    }
    assert plan.ignored == ["Company Name"]


def test_override_can_remap_an_aliased_column() -> None:
    plan = plan_columns(["Email", "Title"], {"Title": "message"})
    assert plan.mapping == {"Email": "email", "Title": "message"}


def test_second_column_for_a_field_is_ignored() -> None:
    plan = plan_columns(["Email", "Work Email", "Phone"])
    assert plan.mapping == {"Email": "email", "Phone": "phone"}
    assert plan.ignored == ["Work Email"]


def test_phone_only_file_is_accepted() -> None:
    assert plan_columns(["Name", "Mobile"]).mapping == {"Mobile": "phone"}


@pytest.mark.parametrize(
    ("headers", "overrides"),
    [
        (["First Name", "Company"], None),
        ([], None),
        (
            ["Email Address", "First Name"],
            {"Email Address": ""},
        ),  # dropping the only contact column
        (["Badge ID", "Scan ID"], None),
    ],
)
def test_rejects_files_without_email_or_phone(
    headers: list[str], overrides: dict[str, str] | None
) -> None:
    with pytest.raises(FileInvalid, match="email or phone"):
        plan_columns(headers, overrides)


def test_contact_column_can_be_chosen_by_override() -> None:
    plan = plan_columns(["Contact", "Name"], {"Contact": "email"})
    assert plan.mapping == {"Contact": "email"}


def test_rejects_override_for_unknown_column() -> None:
    with pytest.raises(FileInvalid, match="Mail"):
        plan_columns(["Email"], {"Mail": "email"})


def test_rejects_override_to_unknown_field() -> None:
    with pytest.raises(FileInvalid, match="favourite_colour"):
        plan_columns(["Email", "Colour"], {"Colour": "favourite_colour"}, known_fields=LEAD_FIELDS)


def test_to_fields_uses_the_plan() -> None:
    plan = ColumnPlan(mapping={"E": "email", "N": "first_name"}, ignored=["X"])
    assert to_fields({"E": "a@x.com", "N": "Ada", "X": "1"}, plan) == {
        "email": "a@x.com",
        "first_name": "Ada",
    }
    assert to_fields({"E": "a@x.com"}, plan) == {"email": "a@x.com", "first_name": ""}


# --- decode ---------------------------------------------------------------------------


def test_decode_strips_utf8_bom() -> None:
    text = decode("\ufeffEmail,First Name\nada@x.com,Zoë\n".encode())
    assert text == "Email,First Name\nada@x.com,Zoë\n"


def test_decode_falls_back_to_cp1252() -> None:
    raw = "Email,First Name,Company\njose@x.com,José,Müller \u2013 GmbH\n".encode("cp1252")
    with pytest.raises(UnicodeDecodeError):
        raw.decode("utf-8")
    assert decode(raw) == "Email,First Name,Company\njose@x.com,José,Müller \u2013 GmbH\n"


def test_decode_rejects_bytes_undefined_in_cp1252() -> None:
    with pytest.raises(FileInvalid):
        decode(b"Email\n\x81\n")


# --- read_rows ------------------------------------------------------------------------


def _rows(text: str) -> tuple[list[str], list[tuple[int, dict[str, str]]]]:
    headers, rows = read_rows(text)
    return headers, list(rows)


def test_bom_file_through_decode_has_clean_headers() -> None:
    headers, rows = _rows(decode(b"\xef\xbb\xbfEmail Address,First Name\r\nada@x.com,Ada\r\n"))
    assert headers == ["Email Address", "First Name"]
    assert rows == [(1, {"Email Address": "ada@x.com", "First Name": "Ada"})]
    assert plan_columns(headers).mapping["Email Address"] == "email"


def test_semicolon_delimiter() -> None:
    headers, rows = _rows("Email;First Name;Company\nada@x.com;Ada;Acme, Inc\nbob@y.com;Bob;Foo\n")
    assert headers == ["Email", "First Name", "Company"]
    assert rows == [
        (1, {"Email": "ada@x.com", "First Name": "Ada", "Company": "Acme, Inc"}),
        (2, {"Email": "bob@y.com", "First Name": "Bob", "Company": "Foo"}),
    ]


def test_tab_delimiter() -> None:
    headers, rows = _rows("Email\tCompany\nada@x.com\tAcme\nbob@y.com\tFoo\n")
    assert headers == ["Email", "Company"]
    assert rows[1] == (2, {"Email": "bob@y.com", "Company": "Foo"})


def test_quoted_commas_and_blank_lines() -> None:
    text = (
        "Email,Company,Notes\n"
        'ada@x.com,"Acme, Inc","call back; interested"\n'
        "\n,,\n  ,  ,\n"
        "bob@y.com,Foo,\n"
    )
    headers, rows = _rows(text)
    assert headers == ["Email", "Company", "Notes"]
    assert [row for _, row in rows] == [
        {"Email": "ada@x.com", "Company": "Acme, Inc", "Notes": "call back; interested"},
        {"Email": "bob@y.com", "Company": "Foo", "Notes": ""},
    ]
    numbers = [n for n, _ in rows]
    assert numbers[0] == 1 and numbers == sorted(numbers) and len(set(numbers)) == 2


def test_crlf_and_short_and_long_rows() -> None:
    headers, rows = _rows(
        "Email,First Name,Company\r\nada@x.com,Ada\r\nbob@y.com,Bob,Foo,EXTRA\r\n"
    )
    assert rows == [
        (1, {"Email": "ada@x.com", "First Name": "Ada", "Company": ""}),
        (2, {"Email": "bob@y.com", "First Name": "Bob", "Company": "Foo"}),
    ]
    assert headers == ["Email", "First Name", "Company"]


def test_headers_are_stripped() -> None:
    headers, rows = _rows(" Email , Phone \nada@x.com,+14155550123\n")
    assert headers == ["Email", "Phone"]
    assert rows == [(1, {"Email": "ada@x.com", "Phone": "+14155550123"})]


def test_semicolon_crlf_file_with_quoted_semicolon() -> None:
    # what European Excel writes: ';' delimiter, CRLF line ends, quotes around values holding ';'
    text = 'Email;First Name;Company\r\nada@x.com;Ada;"Acme; Inc"\r\nbob@y.com;Bob;Foo\r\n'
    headers, rows = _rows(text)
    assert headers == ["Email", "First Name", "Company"]
    assert plan_columns(headers).mapping["Email"] == "email"
    assert rows[0] == (1, {"Email": "ada@x.com", "First Name": "Ada", "Company": "Acme; Inc"})


def test_semicolon_lf_file_with_quoted_semicolon() -> None:
    text = 'Email;First Name;Company\nada@x.com;Ada;"Acme; Inc"\nbob@y.com;Bob;Foo\n'
    headers, rows = _rows(text)
    assert headers == ["Email", "First Name", "Company"]
    assert rows[0] == (1, {"Email": "ada@x.com", "First Name": "Ada", "Company": "Acme; Inc"})


def test_empty_file_and_duplicate_headers_are_invalid() -> None:
    with pytest.raises(FileInvalid, match="header"):
        read_rows("")
    with pytest.raises(FileInvalid, match="duplicate"):
        read_rows("Email,Email\na@x.com,b@y.com\n")


# Cells free of delimiters and quotes: the dialect must still be detected from the layout.
# (Quoted delimiters in CRLF files are covered by test_semicolon_crlf_file_with_quoted_semicolon.)
_cell = st.text(alphabet="abcXYZ019@.-+ ()", min_size=1, max_size=12).map(str.strip).filter(bool)
_header = st.sampled_from(["Email", "First Name", "Company", "Phone", "Notes", "Job Title", "City"])


@settings(max_examples=60, deadline=None)
@given(
    st.lists(_header, min_size=2, max_size=5, unique=True).flatmap(
        lambda hs: st.tuples(
            st.just(hs),
            st.lists(st.lists(_cell, min_size=len(hs), max_size=len(hs)), min_size=1, max_size=5),
        )
    ),
    st.sampled_from([",", ";", "\t"]),
)
def test_read_rows_round_trips_simple_tables(
    table: tuple[list[str], list[list[str]]], delimiter: str
) -> None:
    headers, rows = table
    buf = io.StringIO()
    writer = csv.writer(buf, delimiter=delimiter, lineterminator="\r\n")
    writer.writerow(headers)
    writer.writerows(rows)
    got_headers, got_rows = read_rows(buf.getvalue())
    assert got_headers == headers
    assert [(n, [r[h] for h in headers]) for n, r in got_rows] == list(enumerate(rows, start=1))
