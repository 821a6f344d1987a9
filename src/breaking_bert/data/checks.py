"""What a task's data must satisfy, written once and checked twice: before the first job, by the
workflow's plan (``preflight``, from the files themselves), and in the data job after the split and
the subsample (``prepare_data``). Standard library only: the scheduling process runs it.

Rows are numbered from 0, the header excluded, as in every data message of the pipeline.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ..packages import is_package_path, not_installed, package_folder, split_package_path


# A task's keys that the schema fills in when the workflow validates the config: a library caller's
# task may leave them out and gets these (tests/test_config.py holds them equal to
# config/schema.yaml's defaults, the one place to change them)
TASK_DEFAULTS = {"source": "file", "splits": {"train": "train", "eval": "validation"}, "encoding": "utf-8",
                 "filter": {}, "label_column": "label", "eval_fraction": 0.2, "split_seed": 0}


class DataError(ValueError):
    """A problem with a task's data, naming the file (and row) it comes from and what to change."""


def resolve_data_path(path: str, key: str) -> Path:
    """A local path, or ``package:<module>/<relative>``: a file inside an installed package (packages.py)."""
    if not is_package_path(path):
        return Path(path)
    package, relative = split_package_path(path)
    folder = package_folder(package)
    if folder is None:
        raise DataError(not_installed(key, package))
    return folder / relative


def read_label_folders(path: Path, encoding: str, key: str) -> list[dict]:
    if not path.is_dir():
        raise DataError(f"{key}: {path}: folder not found")
    records = []
    for folder in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for file in sorted(folder.glob("*.txt")):
            try:  # whitespace runs as one space: a news file's line breaks are layout
                records.append({"text": " ".join(file.read_text(encoding=encoding).split()), "label": folder.name,
                                "file": str(file)})
            except UnicodeDecodeError as error:
                raise DataError(f"{key}: {file}: not {encoding} text ({error}); set the task's encoding") from None
    if not records:
        raise DataError(f"{key}: {path}: no <label>/*.txt files found")
    return records


def label_key(value):
    """A label as compared: integers (1, '1', 1.0) as int, anything else as its stripped text, so a
    CSV's text, a parquet's integers and a YAML list's values meet."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    return int(text.split(".")[0]) if re.fullmatch(r"[+-]?\d+(\.0*)?", text) else text


# what spreadsheets and pandas write for "no value": in a label column, a missing label
MISSING_MARKS = {"na", "n/a", "#n/a", "nan", "null", "none", "<na>"}


def _is_missing(value) -> bool:
    return value is None or (isinstance(value, float) and value != value) or str(value).strip() == ""


def _rows(rows, mask) -> list:
    return [row for row, bad in zip(rows, mask) if bad][:5]


def check_header(columns: list, rows: int, task: dict, where: str) -> None:
    """A file's header names the task's text and label columns, and rows follow it: the plan check
    and the data stage both ask this, in this order, so that they name the same fix."""
    check_columns(columns, task, where)
    if rows == 0:
        raise DataError(f"{where}: no rows after the header (columns {columns}); add examples to the file")


def check_columns(columns: list, task: dict, where: str) -> None:
    """The task's text and label columns are among the file's."""
    missing = [column for column in [*task["text_columns"], task["label_column"]] if column not in columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; columns are {columns}: set text_columns / label_column")


def check_texts(values: list, rows: list, column: str, where: str) -> None:
    empty = [_is_missing(value) for value in values]
    if any(empty):
        raise DataError(
            f"{where}: empty text in column {column!r} at row(s) {_rows(rows, empty)} ({sum(empty)} in all); "
            "drop those rows or fill them"
        )


def label_keys(values: list, rows: list, column: str, where: str) -> list:
    """The column's labels as label_key()s; a column that mixes integers and text is an error naming
    the rows of the rarer type (one 'pos' among integers names that row, not the others)."""
    missing = [_is_missing(value) or str(value).strip().lower() in MISSING_MARKS for value in values]
    if any(missing):
        raise DataError(f"{where}: no label in column {column!r} at row(s) {_rows(rows, missing)}; drop or label them")
    keys = [label_key(value) for value in values]
    is_int = [isinstance(key, int) for key in keys]
    n_int = sum(is_int)
    if 0 < n_int < len(keys):
        rarer = [flag == (n_int <= len(keys) - n_int) for flag in is_int]
        kind = "integers" if n_int <= len(keys) - n_int else "text"
        examples = [f"row {row}: {value!r}" for row, value, bad in zip(rows, values, rarer) if bad][:5]
        raise DataError(
            f"{where}: column {column!r} mixes integers and text; {sum(rarer)} row(s) hold {kind} where the "
            f"others do not ({', '.join(examples)}); a label column holds one type"
        )
    return keys


def sorted_labels(keys) -> list:
    """The label set in label-id order when none is declared: numbers numerically, text by its text."""
    return sorted(set(keys), key=lambda key: (isinstance(key, str), key))


def check_labels(keys: list, rows: list, declared: list | None, column: str, where: str, training: bool) -> None:
    """Labels inside the declared set; and, for training data, at least two classes and every
    declared label present (a class the model never sees cannot be learned)."""
    if declared is not None:
        allowed = {label_key(label) for label in declared}
        outside = [key not in allowed for key in keys]
        if any(outside):
            found = [f"row {row}: {key!r}" for row, key, bad in zip(rows, keys, outside) if bad][:5]
            raise DataError(
                f"{where}: {sum(outside)} label(s) in column {column!r} outside the declared labels {declared} "
                f"({', '.join(found)}); add them to the task's labels or drop those rows"
            )
    if not training:
        return
    counts = Counter(keys)
    if len(counts) < 2:
        raise DataError(
            f"{where}: the training data holds {len(counts)} class(es) in column {column!r} "
            f"({dict(counts) or 'no rows'}); a classifier needs at least two: check label_column, filter and the file"
        )
    if declared is not None:
        absent = [label for label in declared if label_key(label) not in counts]
        if absent:
            raise DataError(
                f"{where}: declared label(s) {absent} never occur in the training data (counts {dict(counts)}); "
                "remove them from the task's labels or add examples of them"
            )


def class_counts(keys: list, labels: list) -> dict:
    """Examples per declared label, in label order (the data summary's counts)."""
    counts = Counter(keys)
    return {str(label): counts.get(label_key(label), 0) for label in labels}
