"""Import files read as streams, so a million-row file never sits whole in memory. Pure:
file objects in, values out.

Two passes over the uploaded file: :func:`scan` fingerprints it and finds its encoding;
:func:`open_rows` then reads its header and yields data rows, which :func:`chunked` groups
into the fixed-size chunks a job stores and publishes one at a time.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import itertools
import json
from collections.abc import Collection, Iterator, Sequence
from dataclasses import dataclass
from typing import IO, Any

from services.ingest.domain.badge_scans import ColumnPlan, FileInvalid, detect_delimiter

READ_BYTES = 1 << 20
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


@dataclass(frozen=True)
class FileFacts:
    sha256: str
    size: int
    encoding: str  # utf-8-sig or cp1252 (what spreadsheet programs write)


def scan(stream: IO[bytes], read_bytes: int = READ_BYTES) -> FileFacts:
    """The file's SHA-256, size and text encoding; :class:`FileInvalid` for a binary file."""
    digest = hashlib.sha256()
    utf8 = codecs.getincrementaldecoder("utf-8")()
    is_utf8 = True
    size = 0
    while block := stream.read(read_bytes):
        if size == 0 and block.startswith(UTF16_BOMS):
            raise FileInvalid("file is UTF-16 text; save it as CSV (UTF-8)")
        if b"\x00" in block:
            raise FileInvalid("file is binary, not CSV text")
        digest.update(block)
        size += len(block)
        if is_utf8:
            try:
                utf8.decode(block)
            except UnicodeDecodeError:
                is_utf8 = False
    if size == 0:
        raise FileInvalid("file is empty")
    if is_utf8:
        try:
            utf8.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    return FileFacts(
        sha256=digest.hexdigest(), size=size, encoding="utf-8-sig" if is_utf8 else "cp1252"
    )


@dataclass(frozen=True)
class Rows:
    headers: list[str]
    rows: Iterator[tuple[int, list[str]]]  # (row number, one value per header)


def open_rows(stream: IO[bytes], encoding: str) -> Rows:
    """Headers, then (row number, values) with row numbers counting records from 1, as
    :func:`badge_scans.read_rows` does; rows with every cell blank are skipped."""
    text = io.TextIOWrapper(stream, encoding=encoding, newline="")
    try:
        first = text.readline()
        reader = csv.reader(itertools.chain([first], text), delimiter=detect_delimiter(first))
        headers = [h.strip() for h in next(reader, [])]
    except UnicodeDecodeError:
        text.detach()
        raise FileInvalid("file is neither UTF-8 nor Windows-1252 text") from None
    except csv.Error as exc:
        text.detach()
        raise FileInvalid(f"header row: {exc}") from None
    if not any(headers) or len(set(headers)) != len(headers):
        text.detach()
        raise FileInvalid(
            "file has no header row" if not any(headers) else "file has duplicate column headers"
        )
    width = len(headers)

    def rows() -> Iterator[tuple[int, list[str]]]:
        number = 0
        try:
            for record in reader:
                if not record:
                    continue  # an empty line is no record
                number += 1
                values = (record + [""] * width)[:width]
                if any(v.strip() for v in values):
                    yield number, values
        except csv.Error as exc:
            raise FileInvalid(f"line {reader.line_num}: {exc}") from None
        except UnicodeDecodeError:
            raise FileInvalid("file is neither UTF-8 nor Windows-1252 text") from None
        finally:
            text.detach()  # leave the caller's stream open

    return Rows(headers=headers, rows=rows())


@dataclass(frozen=True)
class Chunk:
    seq: int
    rows: list[list[Any]]  # [row number, then the value of each planned field]


def chunked(
    rows: Iterator[tuple[int, list[str]]],
    headers: Sequence[str],
    plan: ColumnPlan,
    size: int,
) -> Iterator[Chunk]:
    """Keep only the planned columns, in plan order, ``size`` rows a chunk."""
    index = [headers.index(h) for h in plan.mapping]
    for seq in itertools.count():
        batch = [[n, *(values[i] for i in index)] for n, values in itertools.islice(rows, size)]
        if not batch:
            return
        yield Chunk(seq=seq, rows=batch)


def encode_rows(rows: list[list[Any]]) -> str:
    return json.dumps(rows, ensure_ascii=False, separators=(",", ":"))


def redact_rows(payload: str, numbers: Collection[int]) -> tuple[str, int]:
    """A stored chunk with the values of the rows ``numbers`` blanked (their row numbers and
    widths kept, so the chunk still decodes); and how many rows were blanked."""
    rows = json.loads(payload)
    blanked = 0
    for row in rows:
        if int(row[0]) in numbers:
            row[1:] = [""] * (len(row) - 1)
            blanked += 1
    return (encode_rows(rows) if blanked else payload), blanked


def decode_rows(payload: str, fields: Sequence[str]) -> list[tuple[int, dict[str, str]]]:
    """A stored chunk back into (row number, lead fields)."""
    out: list[tuple[int, dict[str, str]]] = []
    for number, *values in json.loads(payload):
        out.append((int(number), dict(zip(fields, values, strict=True))))
    return out
