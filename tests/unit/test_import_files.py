"""Import jobs' pure domain: id derivation, streaming the file into chunks, job states.
No fixtures."""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import json
import uuid
from datetime import date

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from services.ingest.domain import import_files
from services.ingest.domain.badge_scans import FileInvalid, plan_columns, read_rows
from services.ingest.domain.ids import (
    list_import_id,
    row_ids,
    stable_id,
    trade_show_import_id,
)
from services.ingest.domain.import_files import (
    chunked,
    decode_rows,
    encode_rows,
    open_rows,
    scan,
)
from services.ingest.domain.jobs import (
    JobStatus,
    after_batch,
    can_cancel,
    resumes_on_reupload,
)
from services.ingest.leads.schemas import LEAD_FIELDS

IMPORT = uuid.UUID("0b9c8d2e-6f4a-4c1b-9e3d-2a1f0c9b8e7d")
SHOW = ("saastr-2026", "SaaStr 2026", date(2026, 9, 10), "America/Los_Angeles")


# -- ids ------------------------------------------------------------------------------------


def test_row_ids_derive_from_import_and_row_only() -> None:
    first = row_ids(IMPORT, 7)
    assert row_ids(IMPORT, 7) == first
    assert row_ids(IMPORT, 8).event_id != first.event_id
    assert row_ids(uuid.uuid4(), 7).submission_id != first.submission_id
    assert first.event_id != str(first.submission_id)
    # the derivation trade-show imports always used, so rows of old imports keep their ids
    assert first.submission_id == stable_id(str(IMPORT), "7", "lead")
    assert first.event_id == str(stable_id(str(IMPORT), "7", "event"))


def test_trade_show_import_id_is_the_one_earlier_imports_got() -> None:
    digest = hashlib.sha256(b"Email\nada@example.com\n").hexdigest()
    fingerprint = json.dumps(
        ["saastr-2026", "SaaStr 2026", "2026-09-10", "America/Los_Angeles", digest, {}],
        sort_keys=True,
    )
    assert trade_show_import_id(
        show_id=SHOW[0],
        name=SHOW[1],
        end_date=SHOW[2],
        timezone=SHOW[3],
        file_sha256=digest,
        overrides=None,
    ) == stable_id("trade-show-import", fingerprint)


def test_list_import_id_is_one_per_list_file_and_mapping() -> None:
    base = list_import_id(list_id="purchased-lists", file_sha256="a" * 64, overrides=None)
    assert base == list_import_id(list_id="purchased-lists", file_sha256="a" * 64, overrides={})
    others = {
        list_import_id(list_id="other-list", file_sha256="a" * 64, overrides=None),
        list_import_id(list_id="purchased-lists", file_sha256="b" * 64, overrides=None),
        list_import_id(
            list_id="purchased-lists", file_sha256="a" * 64, overrides={"Mail": "email"}
        ),
    }
    assert base not in others and len(others) == 3


# -- the file as a stream -------------------------------------------------------------------


def test_scan_fingerprints_and_finds_the_encoding() -> None:
    text = "Email,Company\njosé@example.com,Müller \u2013 GmbH\n"
    utf8 = scan(io.BytesIO(text.encode()), read_bytes=3)  # é and the dash cut across reads
    assert utf8.encoding == "utf-8-sig"
    assert utf8.sha256 == hashlib.sha256(text.encode()).hexdigest()
    assert utf8.size == len(text.encode())
    assert scan(io.BytesIO(text.encode("cp1252"))).encoding == "cp1252"
    assert scan(io.BytesIO(codecs.BOM_UTF8 + text.encode())).encoding == "utf-8-sig"


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        (b"", "empty"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "binary"),
        ("Email\nada@example.com\n".encode("utf-16"), "UTF-16"),
    ],
)
def test_scan_refuses_what_is_not_csv_text(raw: bytes, message: str) -> None:
    with pytest.raises(FileInvalid, match=message):
        scan(io.BytesIO(raw))


def test_open_rows_refuses_a_file_without_usable_headers() -> None:
    with pytest.raises(FileInvalid, match="duplicate"):
        open_rows(io.BytesIO(b"Email,Email\na@x.io,b@x.io\n"), "utf-8-sig")
    with pytest.raises(FileInvalid, match="no header"):
        open_rows(io.BytesIO(b"\n\n"), "utf-8-sig")


def test_open_rows_leaves_the_stream_open() -> None:
    stream = io.BytesIO(b"Email\na@x.io\n")
    parsed = open_rows(stream, "utf-8-sig")
    assert list(parsed.rows) == [(1, ["a@x.io"])]
    assert not stream.closed


def test_a_broken_row_names_its_line() -> None:
    raw = b'Email,Notes\na@x.io,"' + b"x" * 200_000 + b'"\n'
    parsed = open_rows(io.BytesIO(raw), "utf-8-sig")
    with pytest.raises(FileInvalid, match="line"):
        list(parsed.rows)


cells = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",), blacklist_characters="\x00\r"), max_size=12
)


@settings(max_examples=150, deadline=None)
@given(
    rows=st.lists(st.lists(cells, min_size=0, max_size=5), max_size=30),
    delimiter=st.sampled_from([",", ";", "\t"]),
    size=st.integers(1, 7),
)
def test_streamed_rows_match_the_whole_file_reader(
    rows: list[list[str]], delimiter: str, size: int
) -> None:
    """Row numbers, blank-line skipping, short and long rows: as the trade-show reader had them."""
    headers = ["Email Address", "First Name", "Badge ID", "Notes"]
    out = io.StringIO()
    writer = csv.writer(out, delimiter=delimiter)
    writer.writerow(headers)
    for row in rows:
        writer.writerow(row)
    text = out.getvalue()
    expected_headers, expected = read_rows(text)
    plan = plan_columns(expected_headers, None, LEAD_FIELDS)
    want = [(n, {plan.mapping[h]: row.get(h, "") for h in plan.mapping}) for n, row in expected]

    parsed = open_rows(io.BytesIO(text.encode()), "utf-8-sig")
    assert parsed.headers == expected_headers
    chunks = list(chunked(parsed.rows, parsed.headers, plan, size))
    assert [c.seq for c in chunks] == list(range(len(chunks)))
    assert all(0 < len(c.rows) <= size for c in chunks)
    fields = list(plan.mapping.values())
    got = [row for c in chunks for row in decode_rows(encode_rows(c.rows), fields)]
    assert got == want


# -- job states -----------------------------------------------------------------------------


def test_job_moves() -> None:
    assert after_batch(JobStatus.running, last=False) == JobStatus.running
    assert after_batch(JobStatus.running, last=True) == JobStatus.done
    # a cancel that came while the batch was in flight stands, last batch or not
    assert after_batch(JobStatus.cancelled, last=True) == JobStatus.cancelled
    assert [s for s in JobStatus if can_cancel(s)] == [JobStatus.queued, JobStatus.running]
    assert [s for s in JobStatus if resumes_on_reupload(s)] == [
        JobStatus.cancelled,
        JobStatus.failed,
    ]


@given(
    st.lists(
        st.lists(st.text(max_size=8), min_size=2, max_size=2),
        min_size=1,
        max_size=20,
        unique_by=str,
    ),
    st.data(),
)
def test_redacting_a_stored_chunk_blanks_only_the_named_rows(values, data) -> None:
    rows = [[n, *v] for n, v in enumerate(values, start=2)]
    numbers = set(data.draw(st.lists(st.sampled_from([r[0] for r in rows]), max_size=5)))
    redacted, blanked = import_files.redact_rows(import_files.encode_rows(rows), numbers)
    decoded = import_files.decode_rows(redacted, ["email", "name"])
    assert blanked == len(numbers)
    assert [n for n, _ in decoded] == [r[0] for r in rows]  # every row keeps its number
    for (number, fields), row in zip(decoded, rows, strict=True):
        expected = ["", ""] if number in numbers else row[1:]
        assert [fields["email"], fields["name"]] == expected
