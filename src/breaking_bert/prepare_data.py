"""Load a task's data from the Hugging Face hub, a local file, or a package, into tidy splits.

Every task ends as two parquet files (train, eval) with columns ``text_a``, optional ``text_b``
(sentence pairs), ``label`` (int, 0..C-1) and ``row`` (the row in the source, for error messages),
plus ``labels.json`` naming the classes in label order.
"""

from __future__ import annotations

import importlib
import json
from pathlib import Path

import numpy as np
import pandas as pd

LOCAL_FORMATS = {"csv", "json", "jsonl", "parquet"}
SOURCES = {"hub", "file", "folders"}


class DataError(ValueError):
    """A problem with a task's data, naming the file (and row) it comes from."""


def resolve_path(path: str) -> Path:
    """``package:module/relative/path`` names a file shipped inside an installed Python package."""
    if path.startswith("package:"):
        module_name, _, relative = path[len("package:") :].partition("/")
        try:
            module = importlib.import_module(module_name)
        except ImportError as error:
            raise DataError(f"{path}: package {module_name!r} is not installed ({error})") from None
        return Path(module.__file__).parent / relative
    return Path(path)


def _read_local_file(path: Path, fmt: str | None, encoding: str) -> pd.DataFrame:
    if not path.exists():
        raise DataError(f"{path}: file not found")
    fmt = fmt or path.suffix.lstrip(".").lower()
    try:
        if fmt == "csv":
            return pd.read_csv(path, encoding=encoding)
        if fmt in ("json", "jsonl"):
            return pd.read_json(path, lines=fmt == "jsonl" or path.suffix == ".jsonl", encoding=encoding)
        if fmt == "parquet":
            return pd.read_parquet(path)
    except UnicodeDecodeError as error:
        raise DataError(f"{path}: cannot decode as {encoding} ({error}); set the task's encoding") from None
    raise DataError(f"{path}: unknown format {fmt!r}; use one of {sorted(LOCAL_FORMATS)}")


def _read_label_folders(path: Path, encoding: str) -> pd.DataFrame:
    """One folder per class, one text file per example (e.g. the BBC news corpus)."""
    if not path.is_dir():
        raise DataError(f"{path}: folder not found")
    rows = []
    for label_dir in sorted(p for p in path.iterdir() if p.is_dir() and not p.name.startswith("_")):
        for file in sorted(label_dir.glob("*.txt")):
            try:
                text = file.read_text(encoding=encoding)
            except UnicodeDecodeError as error:
                raise DataError(f"{file}: cannot decode as {encoding} ({error})") from None
            rows.append({"text": " ".join(text.split()), "label": label_dir.name, "file": str(file)})
    if not rows:
        raise DataError(f"{path}: no <label>/*.txt files found")
    return pd.DataFrame(rows)


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


def load_raw_splits(task: dict) -> tuple[dict[str, pd.DataFrame], str]:
    """The task's raw train/eval frames and a name for error messages."""
    source = task.get("source", "file")
    if source == "hub":
        splits = task.get("splits", {"train": "train", "eval": "validation"})
        return {name: _load_hub_split(task, split) for name, split in splits.items()}, task["dataset"]
    encoding = task.get("encoding", "utf-8")
    path = resolve_path(task["path"])
    if source == "folders":
        frame = _read_label_folders(path, encoding)
    elif source == "file":
        frame = _read_local_file(path, task.get("format"), encoding)
    else:
        raise DataError(f"task source {source!r}; allowed: {sorted(SOURCES)}")
    frame = frame.reset_index(drop=True)
    frame["row"] = np.arange(len(frame))
    for column, value in (task.get("filter") or {}).items():
        if column not in frame.columns:
            raise DataError(f"{path}: filter column {column!r} not in columns {list(frame.columns)}")
        frame = frame[frame[column] == value]
    eval_path = task.get("eval_path")
    if eval_path:
        eval_frame = _read_local_file(resolve_path(eval_path), task.get("format"), encoding)
        eval_frame["row"] = np.arange(len(eval_frame))
        return {"train": frame, "eval": eval_frame}, str(path)
    # No eval split shipped: hold out a seeded fraction.
    rng = np.random.default_rng(task.get("split_seed", 0))
    order = rng.permutation(len(frame))
    n_eval = int(round(len(frame) * task.get("eval_fraction", 0.2)))
    return {"train": frame.iloc[order[n_eval:]], "eval": frame.iloc[order[:n_eval]]}, str(path)


def _subsample(frame: pd.DataFrame, limit: int | None, seed: int) -> pd.DataFrame:
    if limit is None or len(frame) <= limit:
        return frame
    return frame.sample(n=limit, random_state=seed)


def tidy_split(frame: pd.DataFrame, task: dict, labels: list, where: str) -> pd.DataFrame:
    """Rename text columns to text_a/text_b, map labels to ints, check both."""
    text_columns = task["text_columns"]
    label_column = task["label_column"]
    missing = [c for c in [*text_columns, label_column] if c not in frame.columns]
    if missing:
        raise DataError(f"{where}: missing column(s) {missing}; columns are {list(frame.columns)}")
    if "row" not in frame.columns:
        frame = frame.assign(row=np.arange(len(frame)))
    out = pd.DataFrame({"row": frame["row"].to_numpy()})
    for name, column in zip(("text_a", "text_b"), text_columns):
        texts = frame[column]
        empty = texts.isna() | (texts.astype(str).str.strip() == "")
        if empty.any():
            rows = frame.loc[empty, "row"].tolist()[:5]
            raise DataError(f"{where}: empty text in column {column!r} at row(s) {rows}")
        out[name] = texts.astype(str).to_numpy()
    index = {value: i for i, value in enumerate(labels)}
    mapped = frame[label_column].map(lambda value: index.get(value, index.get(str(value), -1)))
    unknown = mapped < 0
    if unknown.any():
        bad = frame.loc[unknown, [label_column, "row"]].head(5).to_dict("records")
        raise DataError(f"{where}: label(s) outside the declared set {labels}: {bad}")
    out["label"] = mapped.astype(np.int64).to_numpy()
    return out


def prepare_task(task: dict, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame, list]:
    """Load, subsample, check and tidy a task: (train, eval, label names)."""
    if len(task.get("text_columns", [])) not in (1, 2):
        raise DataError(f"text_columns must name 1 (single) or 2 (pair) columns, got {task.get('text_columns')}")
    raw, where = load_raw_splits(task)
    labels = task.get("labels")
    if labels is None:
        column = task["label_column"]
        for frame in raw.values():
            if column not in frame.columns:
                raise DataError(f"{where}: missing label column {column!r}; columns are {list(frame.columns)}")
        # not declared: every value seen in either split, sorted
        labels = sorted(set().union(*(frame[column].unique().tolist() for frame in raw.values())), key=str)
    train = _subsample(raw["train"], task.get("max_train_examples"), seed)
    evaluation = _subsample(raw["eval"], task.get("max_eval_examples"), seed + 1)
    return (
        tidy_split(train, task, labels, f"{where} (train)"),
        tidy_split(evaluation, task, labels, f"{where} (eval)"),
        [v.item() if hasattr(v, "item") else v for v in labels],
    )


def write_task(train: pd.DataFrame, evaluation: pd.DataFrame, labels: list, out_train, out_eval, out_labels):
    train.to_parquet(out_train, index=False)
    evaluation.to_parquet(out_eval, index=False)
    Path(out_labels).write_text(json.dumps({"labels": labels}, indent=2))
