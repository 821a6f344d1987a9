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

from .data_checks import DataError

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
    with open(path, "rb") as handle:
        head = handle.read(SAMPLE_BYTES)
    encoding = text_encoding(head, encoding, path, key)
    return head, encoding, head.decode(encoding, errors="replace").lstrip("\ufeff")


def sniff_format(path: Path, encoding: str = "utf-8", key: str = "file") -> str:
    """The format a file's content shows: parquet (its magic bytes), json or jsonl (one object on
    its first line), tsv or csv (the header's delimiter); 'binary' for anything else undecodable."""
    head, encoding, text = _head(path, encoding, key)
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


def file_format(path: Path, declared: str | None, key: str, encoding: str = "utf-8") -> str:
    """The format to read a file with: the one the task declares, else its suffix, else its content;
    a declared or suffix format that the content contradicts is an error naming both."""
    if not path.is_file():
        raise DataError(f"{key}: {path}: file not found")
    sniffed = sniff_format(path, encoding, key)
    if sniffed == "binary":
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


def _decode_error(path: Path, encoding: str, key: str, error: UnicodeDecodeError) -> DataError:
    return DataError(
        f"{key}: {path}: not {encoding} text (byte {error.start}: {error.object[error.start:error.start + 1]!r}); "
        "set the task's encoding (e.g. latin-1)"
    )


def _read_text_table(path: Path, encoding: str, key: str) -> Table:
    csv.field_size_limit(sys.maxsize)  # reviews longer than csv's 128 KB default field
    _, encoding, text = _head(path, encoding, key)
    try:
        with open(path, newline="", encoding=encoding) as handle:
            reader = csv.DictReader(handle, delimiter=delimiter_of(text.lstrip(" \t\r\n")))
            records = list(reader)
            return Table(list(reader.fieldnames or []), records)
    except UnicodeDecodeError as error:
        raise _decode_error(path, encoding, key, error) from None


def _read_json(path: Path, lines: bool, encoding: str, key: str) -> Table:
    _, encoding, _ = _head(path, encoding, key)
    try:
        text = path.read_text(encoding=encoding)
        if lines:
            data = [json.loads(line) for line in text.splitlines() if line.strip()]
        else:
            data = json.loads(text)
    except UnicodeDecodeError as error:
        raise _decode_error(path, encoding, key, error) from None
    except ValueError as error:
        raise DataError(f"{key}: {path}: not valid JSON{' lines' if lines else ''} ({error})") from None
    if isinstance(data, dict):  # column-oriented, as pandas writes it: {column: {index: value}} or lists
        columns = {name: list(values.values()) if isinstance(values, dict) else list(values) for name, values in data.items()}
        return Table(list(columns), [dict(zip(columns, row)) for row in zip(*columns.values())])
    if not isinstance(data, list):
        raise DataError(f"{key}: {path}: JSON holds neither records nor columns")
    columns = list(dict.fromkeys(name for record in data if isinstance(record, dict) for name in record))
    return Table(columns, data)


def read_table(path: Path, declared_format: str | None, encoding: str, key: str) -> Table | None:
    """A local file's columns and rows (None: a parquet file where pyarrow is not importable)."""
    fmt = file_format(path, declared_format, key, encoding)
    if fmt in ("csv", "tsv"):
        return _read_text_table(path, encoding, key)
    if fmt in ("json", "jsonl"):
        return _read_json(path, fmt == "jsonl", encoding, key)
    try:
        import pyarrow.parquet
    except ImportError:  # the data job reads it (its env has pyarrow) and checks the same
        return None
    table = pyarrow.parquet.read_table(path)
    return Table(list(table.column_names), table.to_pylist())
