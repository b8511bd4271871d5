"""Lead search: filters from query parameters, the keyset cursor, rows and CSV cells."""

from __future__ import annotations

import base64
import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql

from services.router.domain.params import CURSOR_MAX_CHARS, InvalidParameter
from services.router.domain.search import (
    LIMIT_DEFAULT,
    PREFIX_TOP,
    SUMMARY_FIELDS,
    LeadRow,
    LeadSearch,
    SearchKey,
    csv_record,
    decode_cursor,
    encode_cursor,
    parse_search,
    summary,
    wants_count,
)
from services.router.search.repository import page_query, prefix_expressions

AT = datetime(2026, 11, 23, 8, 55, tzinfo=UTC)


def test_filters_repeat_as_any_of_and_singles_are_read():
    search, cursor = parse_search(
        [
            ("status", "new"), ("status", "queued"), ("status", "new"), ("team", "core"),
            ("owner", "(none)"), ("temperature", "hot"), ("stage", "mql"), ("source", "web"),
            ("channel", "web"), ("campaign", "spring"), ("queue", "unassigned"),
            ("queued", "true"), ("received_from", "2026-11-01T00:00:00Z"),
            ("received_to", "2026-12-01T00:00:00+01:00"), ("updated_from", "2026-11-02T00:00:00Z"),
            ("q", "  Ada   LOV "), ("limit", "10"), ("cursor", "abc"),
        ]
    )  # fmt: skip
    assert search.statuses == ("new", "queued")
    assert search.teams == ("core",) and search.owners == ("(none)",)
    assert search.queued is True and search.queues == ("unassigned",)
    assert search.received_to == datetime(2026, 11, 30, 23, tzinfo=UTC)
    assert search.q == "ada lov" and search.limit == 10 and cursor == "abc"
    assert search.prefix_range() == ("ada lov", "ada lov" + PREFIX_TOP)
    assert "statuses" in search.filter_names() and "limit" not in search.filter_names()


def test_q_is_lowered_by_the_database_as_typed():
    search, _ = parse_search([("q", "  İpek   ΣΑΣ ")])
    assert search.q_text == "İpek ΣΑΣ" and search.q_typed() == "İpek ΣΑΣ"
    assert "q_text" not in search.filter_names() and "q" in search.filter_names()
    assert LeadSearch(q="ada").q_typed() == "ada"
    sql = str(page_query(search, None, 5).compile(dialect=postgresql.dialect()))
    # both sides of the range through PostgreSQL's lower(), never a Python-lowered constant
    assert sql.count("lower(%(lower_1)s") == 8, sql
    assert "İpek" not in sql and "i̇pek" not in sql


def test_the_prefix_expressions_carry_their_constants_in_the_sql_as_the_indexes_do():
    dialect = postgresql.dialect()  # type: ignore[no-untyped-call]
    rendered = [str(e.compile(dialect=dialect)) for e in prefix_expressions()]
    assert rendered == [
        "lower((coalesce(router.lead.first_name, '') || ' ') || coalesce(router.lead.last_name, ''))"
        ' COLLATE "C"',
        'lower(router.lead.last_name) COLLATE "C"',
        "lower(router.lead.profile ->> 'email') COLLATE \"C\"",
        "lower(router.lead.profile ->> 'company') COLLATE \"C\"",
    ]  # fmt: skip
    for sql in rendered:  # no bind parameter: a generic plan sees the indexed expression
        assert "%(" not in sql, sql


def test_defaults_filter_nothing():
    search, cursor = parse_search([])
    assert search == LeadSearch() and search.limit == LIMIT_DEFAULT and cursor is None
    assert search.filter_names() == [] and search.prefix_range() is None


BAD = [
    ([("status", "open")], "status"),
    ([("stage", "prospect")], "stage"),
    ([("temperature", "lukewarm")], "temperature"),
    ([("status", "(none)")], "status"),
    ([("source", "(none)")], "source"),
    ([("team", " ")], "team"),
    ([("team", "x" * 201)], "team"),
    ([("teams", "core")], "teams"),
    ([("queued", "maybe")], "queued"),
    ([("received_from", "yesterday")], "received_from"),
    ([("updated_to", "2026-11-01T00:00:00")], "updated_to"),  # no offset
    ([("received_from", "0001-01-01T00:00:00+14:00")], "received_from"),  # before year 1 in UTC
    ([("updated_to", "9999-12-31T23:59:59-14:00")], "updated_to"),  # after year 9999 in UTC
    ([("received_from", "2026-12-01T00:00:00Z"), ("received_to", "2026-11-01T00:00:00Z")],
     "received_to"),
    ([("q", "   ")], "q"),
    ([("q", "a" * 101)], "q"),
    ([("q", "ada\x00")], "q"),
    ([("q", "ada\x1b[0m")], "q"),
    *(([(name, "core\x00")], name)
      for name in ("owner", "team", "queue", "source", "channel", "campaign")),
    ([("team", "co\x7fre")], "team"),
    ([("limit", "0")], "limit"),
    ([("limit", "501")], "limit"),
    ([("limit", "ten")], "limit"),
    ([("limit", "5"), ("limit", "6")], "limit"),
]  # fmt: skip


@pytest.mark.parametrize(("params", "name"), BAD)
def test_bad_parameters_name_themselves(params, name):
    with pytest.raises(InvalidParameter) as caught:
        parse_search(params)
    assert caught.value.param == name


def test_count_is_a_flag():
    assert wants_count([("count", "true")]) and not wants_count([("count", "false")])
    assert not wants_count([])
    with pytest.raises(InvalidParameter):
        wants_count([("count", "perhaps")])


def test_the_fingerprint_ignores_order_and_page_size_but_not_filters():
    a, _ = parse_search([("status", "new"), ("status", "queued"), ("limit", "5")])
    b, _ = parse_search([("status", "queued"), ("status", "new"), ("limit", "50")])
    c, _ = parse_search([("status", "new")])
    assert a.fingerprint() == b.fingerprint() != c.fingerprint()


def test_a_cursor_round_trips_and_only_for_its_search():
    search, _ = parse_search([("team", "core")])
    key = SearchKey(AT, uuid.uuid4())
    assert decode_cursor(encode_cursor(key, search), search) == key
    other, _ = parse_search([("team", "other")])
    with pytest.raises(InvalidParameter, match="another search") as caught:
        decode_cursor(encode_cursor(key, search), other)
    assert caught.value.param == "cursor"
    for junk in ("", "bm90IGEgY3Vyc29y", "!!!", "eyJ2IjoyfQ"):
        with pytest.raises(InvalidParameter):
            decode_cursor(junk, search)


def _tampered(payload: object) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def test_a_tampered_cursor_is_refused_naming_cursor():
    search, _ = parse_search([("team", "core")])
    good = {"v": 1, "r": AT.isoformat(), "id": str(uuid.uuid4()), "f": search.fingerprint()}
    assert decode_cursor(_tampered(good), search).received_at == AT
    tampered = [
        _tampered({**good, "id": 123}),
        _tampered({**good, "id": ["x"]}),
        _tampered({**good, "r": 5}),
        _tampered({**good, "r": "0001-01-01T00:00:00+05:00"}),  # before year 1 in UTC
        _tampered({**good, "r": "9999-12-31T23:59:59-05:00"}),  # after year 9999 in UTC
        _tampered({**good, "r": "2026-11-23T08:55:00"}),  # no offset
        _tampered({**good, "f": {"x": 1}}),
        _tampered([good]),
        base64.urlsafe_b64encode(b"[" * 1000).decode(),  # deep nesting
        base64.urlsafe_b64encode(b"[" * 100_000).decode(),
        "A" * (CURSOR_MAX_CHARS + 1),
    ]
    for text in tampered:
        with pytest.raises(InvalidParameter) as caught:
            decode_cursor(text, search)
        assert caught.value.param == "cursor", text[:80]


@given(
    st.datetimes(timezones=st.just(UTC)),
    st.uuids(),
    st.lists(st.sampled_from(["new", "queued", "assigned"]), max_size=3),
    st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=20).filter(
        str.strip
    ),
)
def test_any_cursor_round_trips(at, lead_id, statuses, q):
    search, _ = parse_search([*(("status", s) for s in statuses), ("q", q)])
    key = SearchKey(at, lead_id)
    assert decode_cursor(encode_cursor(key, search), search) == key


@given(st.text(min_size=1, max_size=4), st.text(max_size=8))
def test_the_prefix_range_holds_exactly_the_strings_that_start_with_q(q, text):
    search = LeadSearch(q=q)
    low, high = search.prefix_range()  # type: ignore[misc]
    for candidate in (text, q + text, q[:-1] + text):
        if PREFIX_TOP not in candidate:
            assert (low <= candidate < high) == candidate.startswith(q)


def test_rows_show_the_name_and_defuse_formulas_in_csv():
    row = LeadRow(
        id=uuid.uuid4(), status="queued", stage="mql", owner=None, team="core",
        queue="unassigned", temperature="hot", score=70, source="web", channel="web",
        campaign=None, received_at=AT, updated_at=AT + timedelta(minutes=5), first_name="Ada",
        last_name=None, email="ada@example.com", company="=cmd()",
    )  # fmt: skip
    shown = summary(row)
    assert list(shown) == list(SUMMARY_FIELDS)
    assert shown["name"] == "Ada" and shown["queue"] == "unassigned"
    cells = dict(zip(SUMMARY_FIELDS, csv_record(shown), strict=True))
    assert cells["company"] == "'=cmd()" and cells["campaign"] == "" and cells["score"] == "70"
    assert cells["received_at"] == "2026-11-23T08:55:00Z"
    negative = dict(zip(SUMMARY_FIELDS, csv_record(summary(replace(row, score=-5))), strict=True))
    assert negative["score"] == "-5"
    assert row.key == SearchKey(AT, row.id)
