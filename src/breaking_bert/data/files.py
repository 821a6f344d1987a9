"""One reader for a task's local file, used by the plan check (before the first job, in the
scheduling process) and by the data stage, so that whatever one accepts the other accepts: the
format (declared, the suffix, or the content), the encoding (a byte-order mark decides between
UTF-8 and UTF-16), the delimiter of a text table (',', tab or ';', from the header) and the header.
Standard library only (parquet through pyarrow where it is importable).
"""

from __future__ import annotations

import codecs
import csv
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from .checks import DataError

FORMATS = ("csv", "tsv", "json", "jsonl", "parquet")
SAMPLE_BYTES = 65536
DELIMITERS = {",": "csv", "\t": "tsv", ";": "csv"}  # what European spreadsheets write as CSV: ';'
BYTE_ORDER_MARKS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))


@dataclass(frozen=True)
class Table:
    """A file's columns (from its header, even with no row under it) and its rows as dicts."""

    columns: list
    records: list


def text_encoding(head: bytes, declared: str, path: Path, key: str) -> str:
    """The encoding to decode with: a byte-order mark's where the task's encoding is a UTF one (the
    mark is unambiguous, and Excel's "CSV UTF-8" writes one), the task's otherwise; a mark that
    contradicts a non-UTF encoding is an error naming the fix."""
    for mark, encoding in BYTE_ORDER_MARKS:
        if head.startswith(mark):
            if codecs.lookup(declared).name.startswith("utf"):
                return encoding
            name = "utf-8" if encoding == "utf-8-sig" else encoding
            raise DataError(f"{key}: {path}: the file starts with a {name.upper()} byte-order mark but the task's "
                            f"encoding is {declared}; set the task's encoding: {name}")
    return declared


def _head(path: Path, encoding: str, key: str) -> tuple[bytes, str, str]:
    """The file's first bytes, the encoding to decode it with, and those bytes decoded."""
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    encoding = text_encoding(head, encoding, path, key)
    return head, encoding, head.decode(encoding, errors="replace").lstrip("\ufeff")


def _utf16_without_mark(head: bytes) -> str | None:
    """'utf-16-le' or 'utf-16-be' where every other byte of a text's start is NUL (UTF-16 without
    a byte-order mark), else None."""
    sample = head[:2048]
    if len(sample) < 4:
        return None
    for name, zeros in (("utf-16-le", sample[1::2]), ("utf-16-be", sample[0::2])):
        if zeros.count(0) > 0.9 * len(zeros):
            return name
    return None


def sniff_format(head: bytes, encoding: str, text: str) -> str:
    """The format a file's content shows: parquet (its magic bytes), json or jsonl (one object on
    its first line), tsv or csv (the header's delimiter); 'binary' for anything else undecodable."""
    if head.startswith(b"PAR1"):
        return "parquet"
    if b"\x00" in head and not encoding.startswith("utf-16"):
        return "binary"
    text = text.lstrip(" \t\r\n")
    if text.startswith("["):
        return "json"
    if text.startswith("{"):
        try:
            json.loads(text.splitlines()[0])
            return "jsonl"
        except ValueError:
            return "json"
    return DELIMITERS[delimiter_of(text)]


def delimiter_of(text: str) -> str:
    """The header's delimiter: the most frequent of ',', tab and ';' in its first line (',' when
    none occurs: a one-column table)."""
    header = text.splitlines()[0] if text else ""
    counts = {delimiter: header.count(delimiter) for delimiter in DELIMITERS}
    best = max(counts, key=lambda delimiter: counts[delimiter])
    return best if counts[best] else ","


def _file_format(path: Path, declared: str | None, key: str, head: bytes, encoding: str, text: str) -> str:
    """The format to read a file with: the one the task declares, else its suffix, else its content;
    a declared or suffix format that the content contradicts is an error naming both."""
    sniffed = sniff_format(head, encoding, text)
    if sniffed == "binary":
        utf16 = _utf16_without_mark(head)
        if utf16:
            raise DataError(f"{key}: {path}: UTF-16 text without a byte-order mark; set the task's encoding: {utf16}")
        raise DataError(f"{key}: {path}: not a text table nor parquet; use one of {', '.join(FORMATS)}")
    claimed = declared or path.suffix.lstrip(".").lower()
    source = "the task's format" if declared else "its name"
    if claimed not in FORMATS:
        return sniffed
    family = {"json": "json", "jsonl": "json", "csv": "text", "tsv": "text", "parquet": "parquet"}
    if family[claimed] != family[sniffed] or (claimed in ("csv", "tsv") and claimed != sniffed):
        raise DataError(
            f"{key}: {path}: {source} says {claimed} but its content is {sniffed}; "
            f"set the task's format: {sniffed} (or give the file its real suffix)"
        )
    return sniffed if family[sniffed] == "json" else claimed  # JSON lines or not: as the content shows


def _decode_error(path: Path, encoding: str, key: str) -> DataError:
    """Where the file stops being ``encoding`` text, counted from its start, and the encoding to
    try: cp1252 where the byte is one of its printable extras (curly quotes, dashes: latin-1 would
    turn them into invisible control characters), latin-1 otherwise."""
    raw = path.read_bytes()
    try:
        raw.decode(encoding)
        return DataError(f"{key}: {path}: not {encoding} text; set the task's encoding")
    except UnicodeDecodeError as error:
        byte = raw[error.start:error.start + 1]
        line = raw.count(b"\n", 0, error.start) + 1
        suggestion = "cp1252" if byte and 0x80 <= byte[0] <= 0x9F else "latin-1"
        return DataError(f"{key}: {path}: not {encoding} text (line {line}, byte {error.start}: {byte!r}); set the "
                         f"task's encoding (e.g. {suggestion})")


def _read_text_table(path: Path, encoding: str, text: str, key: str) -> Table:
    csv.field_size_limit(sys.maxsize)  # reviews longer than csv's 128 KB default field
    try:
        with open(path, newline="", encoding=encoding) as handle:
            reader = csv.reader(handle, delimiter=delimiter_of(text.lstrip(" \t\r\n")))
            header = next(reader, [])
            columns = [name.lstrip("\ufeff") for name in header]
            rows = [row for row in reader if row]
    except UnicodeDecodeError:
        raise _decode_error(path, encoding, key) from None
    for number, row in enumerate(rows):
        if len(row) > len(columns):
            raise DataError(f"{key}: {path}: row {number} has {len(row)} fields where the header has {len(columns)} "
                            f"({row[:len(columns) + 1]!r}...); quote the text: a field that holds the delimiter "
                            "needs quotes")
    return Table(columns, [dict(zip(columns, row + [None] * (len(columns) - len(row)))) for row in rows])


def _read_json(path: Path, lines: bool, encoding: str, key: str) -> Table:
    try:
        text = path.read_text(encoding=encoding)
        if lines:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except UnicodeDecodeError:
        raise _decode_error(path, encoding, key) from None
    except ValueError as error:
        raise DataError(f"{key}: {path}: not valid JSON{' lines' if lines else ''} ({error})") from None
    if isinstance(data, dict):  # column-oriented, as pandas writes it: {column: {index: value}} or lists
        columns = {name: list(values.values()) if isinstance(values, dict) else list(values) for name, values in data.items()}
        return Table(list(columns), [dict(zip(columns, row)) for row in zip(*columns.values())])
    if not isinstance(data, list):
        raise DataError(f"{key}: {path}: JSON holds neither records nor columns")
    columns = list(dict.fromkeys(name for record in data if isinstance(record, dict) for name in record))
    return Table(columns, [{name: record.get(name) for name in columns} if isinstance(record, dict) else record
                           for record in data])


def read_table(path: Path, declared_format: str | None, encoding: str, key: str) -> Table | None:
    """A local file's columns and rows (None: a parquet file where pyarrow is not importable); an
    empty file, or a header that names a column twice, is an error naming it."""
    if not path.is_file():
        raise DataError(f"{key}: {path}: file not found")
    head, encoding, text = _head(path, encoding, key)
    if not text.strip():
        raise DataError(f"{key}: {path}: the file is empty (no header row); write a header naming the text and label "
                        "columns, then the examples")
    fmt = _file_format(path, declared_format, key, head, encoding, text)
    if fmt in ("csv", "tsv"):
        table = _read_text_table(path, encoding, text, key)
    elif fmt in ("json", "jsonl"):
        table = _read_json(path, fmt == "jsonl", encoding, key)
    else:
        try:
            import pyarrow.parquet
        except ImportError:  # the data job reads it (its env has pyarrow) and checks the same
            return None
        arrow = pyarrow.parquet.read_table(path)
        table = Table(list(arrow.column_names), arrow.to_pylist())
    repeated = sorted({name for name in table.columns if table.columns.count(name) > 1})
    if repeated:
        raise DataError(f"{key}: {path}: the header names column(s) {repeated} more than once; give each column a "
                        "name of its own")
    return table
