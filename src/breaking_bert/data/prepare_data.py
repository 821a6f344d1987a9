"""Load a task's data from the Hugging Face hub, a local file, or a package, into tidy splits.

Every task ends as two parquet files (train, eval) with columns ``text_a``, optional ``text_b``
(sentence pairs), ``label`` (int, 0..C-1) and ``row`` (the row in the source, for error messages),
plus ``labels.json`` naming the classes in label order and ``summary.json`` with the examples per
class in each split. The held-out eval split and the subsamples are stratified by class and
seeded. The checks are those of ``data.checks``, which the workflow's plan also makes on the whole files.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .checks import (
    TASK_DEFAULTS,
    DataError,
    check_columns,
    check_header,
    check_labels,
    check_texts,
    class_counts,
    label_key,
    label_keys,
    read_label_folders,
    resolve_data_path,
    sorted_labels,
)
from .files import read_table

SOURCES = {"hub", "file", "folders"}


def _read_local_file(path: Path, task: dict, encoding: str, key: str) -> pd.DataFrame:
    """The file as the plan check read it (files.read_table: format, encoding, delimiter,
    header) and checked its header (checks.check_header); a table's cells as they are written
    (text stays text: labels meet as label_key()s)."""
    table = read_table(path, task.get("format"), encoding, key)
    if table is None:  # parquet without pyarrow: cannot happen in this env, which has it
        return pd.read_parquet(path)
    check_header(table.columns, len(table.records), task, f"{key} ({path})")
    return pd.DataFrame(table.records, columns=table.columns)


def _load_hub_split(task: dict, split: str) -> pd.DataFrame:
    import datasets  # heavy; only the hub path needs it

    try:
        ds = datasets.load_dataset(
            task["dataset"], task.get("dataset_config"), data_files=task.get("data_files"), split=split
        )
    except Exception as error:  # the hub raises many types; all mean the same to the user
        raise DataError(
            f"hub dataset {task['dataset']!r} (config {task.get('dataset_config')!r}, split {split!r}) "
            f"could not be loaded: {error}. Offline? Download it once with network access "
            "(HF_DATASETS_CACHE), or point the task at a local file (source: file)."
        ) from None
    return ds.to_pandas()


def load_raw_splits(task: dict, name: str = "<task>") -> tuple[dict[str, pd.DataFrame], str]:
    """The task's raw train/eval frames and a name for error messages."""
    task = {**TASK_DEFAULTS, **task}
    source = task["source"]
    if source == "hub":
        return {split_name: _load_hub_split(task, split) for split_name, split in task["splits"].items()}, task["dataset"]
    if source not in SOURCES:
        raise DataError(f"tasks.{name}.source: {source!r}; allowed: {sorted(SOURCES)}")
    encoding = task["encoding"]
    key = f"tasks.{name}.path"
    path = resolve_data_path(task["path"], key)
    if source == "folders":
        frame = pd.DataFrame(read_label_folders(path, encoding, key))
    else:
        frame = _read_local_file(path, task, encoding, key)
    frame = frame.reset_index(drop=True)
    frame["row"] = np.arange(len(frame))
    for column, value in task["filter"].items():
        if column not in frame.columns:
            raise DataError(f"tasks.{name}.filter: column {column!r} not in {path}'s columns {list(frame.columns)}")
        frame = frame[[label_key(cell) == label_key(value) for cell in frame[column]]]
    eval_path = task.get("eval_path")
    if eval_path:
        key = f"tasks.{name}.eval_path"
        eval_frame = _read_local_file(resolve_data_path(eval_path, key), task, encoding, key)
        eval_frame["row"] = np.arange(len(eval_frame))
        return {"train": frame, "eval": eval_frame}, f"tasks.{name}.path ({path})"
    # No eval split shipped: hold out a seeded fraction of every class (the header was checked:
    # the label column is there); every class keeps a training example
    held_out = stratified_sample(frame[task["label_column"]], task["eval_fraction"], task["split_seed"],
                                 leave=1)
    return {"train": frame[~held_out], "eval": frame[held_out]}, f"{key} ({path})"


def stratified_sample(labels: pd.Series, share: float, seed: int, at_least: int = 0, leave: int = 0) -> np.ndarray:
    """A seeded boolean selection of ``share`` of the rows, the same share of every class (largest
    remainders decide the rounding, so the total is round(share * rows)), taking at least
    ``at_least`` and leaving at least ``leave`` rows of every class where it has them; the classes
    with the most rows give or take what those bounds move."""
    keys = np.array([str(label_key(value)) for value in labels], dtype=object)
    classes, inverse = np.unique(keys, return_inverse=True)
    sizes = np.bincount(inverse, minlength=len(classes))
    exact = sizes * share
    taken = np.floor(exact).astype(int)
    target = int(round(len(keys) * share))
    taken[np.argsort(-(exact - taken), kind="stable")[: max(target - taken.sum(), 0)]] += 1
    low, high = np.minimum(at_least, sizes), np.maximum(sizes - leave, 0)
    taken = np.clip(taken, low, np.maximum(high, low))
    for _ in range(abs(int(taken.sum()) - target)):  # back to the target total where the bounds allow
        room = (taken > low) if taken.sum() > target else (taken < high)
        if not room.any():
            break
        largest = np.flatnonzero(room)[np.argmax(taken[room])]
        taken[largest] += -1 if taken.sum() > target else 1
    rng = np.random.default_rng(seed)
    selected = np.zeros(len(keys), dtype=bool)
    for index, count in enumerate(taken):
        members = np.flatnonzero(inverse == index)
        selected[rng.permutation(members)[:count]] = True
    return selected


def _subsample(frame: pd.DataFrame, limit: int | None, seed: int, label_column: str) -> pd.DataFrame:
    """At most ``limit`` rows, every class in its share and kept (seeded)."""
    if limit is None or len(frame) <= limit:
        return frame
    return frame[stratified_sample(frame[label_column], limit / len(frame), seed, at_least=1)]


def tidy_split(frame: pd.DataFrame, task: dict, labels: list, where: str, training: bool) -> pd.DataFrame:
    """Rename text columns to text_a/text_b, map labels to ints; the checks of data.checks."""
    text_columns = task["text_columns"]
    label_column = task["label_column"]
    check_columns(list(frame.columns), task, where)
    if "row" not in frame.columns:
        frame = frame.assign(row=np.arange(len(frame)))
    rows = frame["row"].tolist()
    out = pd.DataFrame({"row": frame["row"].to_numpy()})
    for name, column in zip(("text_a", "text_b"), text_columns):
        check_texts(frame[column].tolist(), rows, column, where)
        out[name] = frame[column].astype(str).to_numpy()
    keys = label_keys(frame[label_column].tolist(), rows, label_column, where)
    check_labels(keys, rows, labels, label_column, where, training)
    index = {label_key(value): i for i, value in enumerate(labels)}
    out["label"] = np.array([index[key] for key in keys], dtype=np.int64)
    return out


def prepare_task(task: dict, seed: int = 0, name: str = "<task>") -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Load, subsample, check and tidy a task: (train, eval, label names)."""
    task = {**TASK_DEFAULTS, **task}
    if len(task.get("text_columns", [])) not in (1, 2):
        raise DataError(f"tasks.{name}.text_columns must name 1 (single) or 2 (pair) columns, got {task.get('text_columns')}")
    raw, where = load_raw_splits(task, name)
    column = task["label_column"]
    for name, frame in raw.items():
        if column not in frame.columns:
            raise DataError(f"{where} ({name}): missing label column {column!r}; columns are {list(frame.columns)}")
    labels = task.get("labels")
    if labels is None:  # not declared: every value seen in either split, integers numerically
        labels = sorted_labels(
            key for frame in raw.values()
            for key in label_keys(frame[column].tolist(), frame.get("row", pd.Series(range(len(frame)))).tolist(), column, where)
        )
    train = _subsample(raw["train"], task.get("max_train_examples"), seed, column)
    evaluation = _subsample(raw["eval"], task.get("max_eval_examples"), seed + 1, column)
    return (
        tidy_split(train, task, labels, f"{where} (train)", training=True),
        tidy_split(evaluation, task, labels, f"{where} (eval)", training=False),
        [v.item() if hasattr(v, "item") else v for v in labels],
    )


def split_summary(train: pd.DataFrame, evaluation: pd.DataFrame, labels: list) -> dict:
    """Examples per class in each split (label names in label order)."""
    def counts(frame):
        return class_counts([labels[i] for i in frame["label"]], labels)

    return {"labels": labels, "train": {"examples": len(train), "per_class": counts(train)},
            "eval": {"examples": len(evaluation), "per_class": counts(evaluation)}}


def write_task(train: pd.DataFrame, evaluation: pd.DataFrame, labels: list, out_train, out_eval, out_labels,
               out_summary=None) -> dict:
    train.to_parquet(out_train, index=False)
    evaluation.to_parquet(out_eval, index=False)
    Path(out_labels).write_text(json.dumps({"labels": labels}, indent=2))
    summary = split_summary(train, evaluation, labels)
    if out_summary is not None:
        Path(out_summary).write_text(json.dumps(summary, indent=2))
    return summary
