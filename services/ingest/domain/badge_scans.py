"""Badge-scan CSV files: header aliases of common lead-retrieval exports -> lead fields. Pure."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

# Normalized header (lower-case, alphanumerics only) -> lead field.
HEADER_ALIASES: dict[str, str] = {
    **dict.fromkeys(
        ["email", "emailaddress", "email1", "workemail", "businessemail", "emailid", "mail"],
        "email",
    ),
    **dict.fromkeys(
        [
            "phone",
            "phonenumber",
            "telephone",
            "tel",
            "workphone",
            "businessphone",
            "mobile",
            "mobilephone",
            "cellphone",
            "cell",
            "directphone",
        ],
        "phone",
    ),
    **dict.fromkeys(["firstname", "first", "givenname", "fname", "forename"], "first_name"),
    **dict.fromkeys(["lastname", "last", "surname", "familyname", "lname"], "last_name"),
    **dict.fromkeys(
        [
            "company",
            "companyname",
            "organization",
            "organisation",
            "org",
            "account",
            "accountname",
            "employer",
        ],
        "company",
    ),
    **dict.fromkeys(
        ["website", "companywebsite", "url", "web", "domain", "companydomain"], "website"
    ),
    **dict.fromkeys(["jobtitle", "title", "position", "role", "designation"], "job_title"),
    **dict.fromkeys(
        ["companysize", "employees", "numberofemployees", "noofemployees", "employeecount", "size"],
        "company_size",
    ),
    **dict.fromkeys(["industry", "sector", "vertical"], "industry"),
    **dict.fromkeys(["country", "countrycode", "countryregion"], "country"),
    **dict.fromkeys(["state", "region", "province", "stateprovince", "county"], "region"),
    **dict.fromkeys(["city", "town", "locality"], "city"),
    **dict.fromkeys(["timezone", "tz", "timezonename"], "timezone"),
    **dict.fromkeys(
        ["notes", "note", "comments", "comment", "message", "qualifiers", "remarks"], "message"
    ),
    **dict.fromkeys(
        ["consent", "marketingconsent", "optin", "gdprconsent", "emailoptin"], "marketing_consent"
    ),
}
# Columns scanners add that carry nothing for a lead.
IGNORED_HEADERS = frozenset(
    {"badgeid", "scanid", "scantime", "scandate", "scannedby", "leadid", "registrationid", "id"}
)


class FileInvalid(ValueError):
    pass


def normalize_header(header: str) -> str:
    return re.sub(r"[^a-z0-9]", "", header.lower())


@dataclass(frozen=True)
class ColumnPlan:
    """Which CSV column feeds which lead field; what is dropped."""

    mapping: dict[str, str]  # CSV header -> lead field
    ignored: list[str]


def plan_columns(
    headers: list[str],
    overrides: Mapping[str, str] | None = None,
    known_fields: frozenset[str] = frozenset(),
) -> ColumnPlan:
    """Map headers by alias; ``overrides`` (CSV header -> field, or "" to drop) win."""
    overrides = dict(overrides or {})
    for header, field in overrides.items():
        if header not in headers:
            raise FileInvalid(f"mapping names column {header!r}, which the file does not have")
        if field and known_fields and field not in known_fields:
            raise FileInvalid(f"mapping sends column {header!r} to unknown field {field!r}")
    mapping: dict[str, str] = {}
    ignored: list[str] = []
    used: set[str] = set()
    for header in headers:
        if header in overrides:
            field = overrides[header]
        else:
            norm = normalize_header(header)
            field = "" if norm in IGNORED_HEADERS else HEADER_ALIASES.get(norm, "")
        if field and field not in used:
            mapping[header] = field
            used.add(field)
        else:
            ignored.append(header)
    if not ({"email", "phone"} & used):
        raise FileInvalid("no column maps to email or phone; give a column mapping")
    return ColumnPlan(mapping=mapping, ignored=ignored)


def decode(raw: bytes) -> str:
    if raw.startswith((b"\xff\xfe", b"\xfe\xff")):  # a spreadsheet's "Unicode text" export
        try:
            return raw.decode("utf-16")
        except UnicodeDecodeError:
            raise FileInvalid("file starts as UTF-16 text but is not valid UTF-16") from None
    for encoding in ("utf-8-sig", "cp1252"):
        try:
            return raw.decode(encoding)
        except UnicodeDecodeError:
            continue
    raise FileInvalid("file is neither UTF-8, UTF-16 nor Windows-1252 text")


DELIMITERS = (",", ";", "\t", "|")


def detect_delimiter(text: str) -> str:
    """The delimiter of the header row: the candidate it holds most (headers rarely quote)."""
    header = text.lstrip("\ufeff").splitlines()[0] if text.strip() else ""
    counts = {d: header.count(d) for d in DELIMITERS}
    best = max(DELIMITERS, key=lambda d: counts[d])
    return best if counts[best] else ","


def read_rows(text: str) -> tuple[list[str], Iterator[tuple[int, dict[str, str]]]]:
    """Headers, then (row number, row) with row numbers counting data rows from 1."""
    reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=detect_delimiter(text))
    headers = [h.strip() for h in (reader.fieldnames or []) if h is not None]
    if not headers:
        raise FileInvalid("file has no header row")
    if len(set(headers)) != len(headers):
        raise FileInvalid("file has duplicate column headers")
    reader.fieldnames = headers

    def rows() -> Iterator[tuple[int, dict[str, str]]]:
        for number, row in enumerate(reader, start=1):
            if not any((v or "").strip() for k, v in row.items() if k is not None):
                continue  # blank line
            yield number, {k: (v or "") for k, v in row.items() if k is not None}

    return headers, rows()


def to_fields(row: Mapping[str, str], plan: ColumnPlan) -> dict[str, str]:
    return {field: row.get(header, "") for header, field in plan.mapping.items()}
