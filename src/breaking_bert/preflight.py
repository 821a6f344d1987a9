"""The plan, checked before the first job: everything the config, the model's config.json, the
data files and the tracking store can tell without running anything (docs/DESIGN.md, "Validation
at the edge"). The workflow calls ``check_plan`` while it parses; every problem found is listed
in one error, naming the key, file, row or value and what to change, so a bad input stops on
screen and no job starts.

Standard library only, as the scheduling process needs (parquet headers are read with pyarrow
when it is importable, else the data job checks them). A hub dataset or hub model is checked by
the first job that loads it, with the same functions (``data.checks``, ``vocabulary``).
"""

from __future__ import annotations

import json
from pathlib import Path

from .data.checks import (
    TASK_DEFAULTS,
    DataError,
    check_header,
    check_labels,
    check_texts,
    label_key,
    label_keys,
    read_label_folders,
    resolve_data_path,
)
from .data.files import Table, read_table
from .models import ModelError, resolve_model_path
from .packages import is_package_path
from .tracking import TrackingError, check_store
from .vocabulary import placement_layers


class PlanError(ValueError):
    """The config cannot run as it is; the message lists every problem found."""


# ---------------------------------------------------------------------------------------------
# Data files, read as the data stage reads them (data.files.read_table)


def check_records(table: Table, task: dict, where: str, training: bool) -> None:
    """The checks prepare_data makes after its split, made on a whole file: columns present, rows
    under the header, no empty text, labels of one type inside the declared set, and (training
    data) two classes or more with every declared label present."""
    records, columns = table.records, table.columns
    check_header(columns, len(records), task, where)
    rows = list(range(len(records)))
    for column, value in task["filter"].items():
        if column not in columns:
            raise DataError(f"{where}: filter column {column!r} not in columns {columns}")
        keep = [label_key(record[column]) == label_key(value) for record in records]
        records = [record for record, kept in zip(records, keep) if kept]
        rows = [row for row, kept in zip(rows, keep) if kept]
    for column in task["text_columns"]:
        check_texts([record[column] for record in records], rows, column, where)
    column = task["label_column"]
    keys = label_keys([record[column] for record in records], rows, column, where)
    check_labels(keys, rows, task.get("labels"), column, where, training)


def check_task_data(name: str, task: dict) -> None:
    """A local task's files, as the data job will read them (a hub task: in the data job)."""
    task = {**TASK_DEFAULTS, **task}
    source = task["source"]
    if source == "hub":
        if not task.get("dataset"):
            raise DataError(f"tasks.{name}.dataset: required with source: hub (a Hugging Face dataset id)")
        return
    if not task.get("path"):
        raise DataError(f"tasks.{name}.path: required with source: {source} (a file or folder, or package:<module>/<path>)")
    key = f"tasks.{name}.path"
    path = resolve_data_path(task["path"], key)
    encoding = task["encoding"]
    if source == "folders":
        records = read_label_folders(path, encoding, key)
        table = Table(["text", "label", "file"], records)
        task = {**task, "text_columns": ["text"], "label_column": "label"}
    else:
        table = read_table(path, task.get("format"), encoding, key)
    if table is not None:
        check_records(table, task, f"{key} ({path})", training=True)
    if task.get("eval_path"):
        key = f"tasks.{name}.eval_path"
        eval_path = resolve_data_path(task["eval_path"], key)
        table = read_table(eval_path, task.get("format"), encoding, key)
        if table is not None:
            check_records(table, {**task, "filter": {}}, f"{key} ({eval_path})", training=False)


# ---------------------------------------------------------------------------------------------
# The model's depth, and the layers every placement masks


def looks_like_a_path(name: str) -> bool:
    """A hub id is 'name' or 'org/name'; anything else with a slash, or starting with . ~ /, is a path."""
    return name.startswith((".", "/", "~")) or name.count("/") > 1


def model_settings(model: dict) -> dict | None:
    """The model's config.json: a local folder or a package now, a hub model from the local Hugging
    Face cache if it is there (None: the finetune job checks it)."""
    name = model["name_or_path"]
    if not is_package_path(name) and not Path(name).exists():
        if looks_like_a_path(name):
            raise ModelError(f"model.name_or_path: {name}: folder not found")
        try:
            from huggingface_hub import try_to_load_from_cache
        except ImportError:
            return None
        cached = try_to_load_from_cache(name, "config.json")
        config_file = Path(cached) if isinstance(cached, str) else None
    else:
        config_file = Path(resolve_model_path(name)) / "config.json"  # a local folder without one: refused there
        if not config_file.is_file():
            raise ModelError(f"model.name_or_path: {name}: no config.json in {config_file.parent}: not a Hugging Face model folder")
    if config_file is None:
        return None
    try:
        return json.loads(config_file.read_text())
    except ValueError as error:
        raise ModelError(f"model.name_or_path: {config_file}: not valid JSON ({error})") from None


def model_depth(model: dict) -> int | None:
    """num_hidden_layers from the model's config.json (None: not known before the finetune job)."""
    depth = (model_settings(model) or {}).get("num_hidden_layers")
    return int(depth) if isinstance(depth, int) else None


def check_placements(config: dict, depth: int, is_dense) -> list[str]:
    """Every placement of a sparse pattern masks at least one layer of this model, all within its
    depth (a placement beyond it would train a dense model under a sparse label)."""
    problems = []
    for experiment, grid in config["experiments"].items():
        if all(is_dense(pattern) for pattern in grid["patterns"]):
            continue
        for placement in grid["placements"]:
            try:
                placement_layers(placement, depth)
            except ValueError as error:
                problems.append(f"experiments.{experiment}.placements: {error}; the model has layers 0 to {depth - 1}")
    return problems


# ---------------------------------------------------------------------------------------------


def check_plan(config: dict, task_names, is_dense) -> None:
    """Every problem the plan shows before a job runs, in one error (none: returns). ``is_dense``:
    whether a pattern name is the baseline (its runs mask no layer)."""
    problems = []
    for name in task_names:
        try:
            check_task_data(name, config["tasks"][name])
        except DataError as error:
            problems.append(str(error))
    try:
        depth = model_depth(config["model"])
    except ModelError as error:
        problems.append(str(error))
        depth = None
    if depth is not None:
        problems += check_placements(config, depth, is_dense)
    # the validated config: the schema's defaults are filled in
    margins = config["findings"]["negligible_drop"]
    if isinstance(margins, dict):
        for name in task_names:
            metric = config["tasks"][name]["metric"]
            if metric not in margins:
                problems.append(f"findings.negligible_drop: no margin for the metric {metric!r} of task {name!r} (it "
                                f"gives {sorted(margins)}); add one, in that metric's units")
    if config["tracking"]["enabled"]:
        try:
            check_store(config["tracking"]["uri"])
        except TrackingError as error:
            problems.append(str(error))
    if problems:
        listed = "\n".join(f"  - {problem}" for problem in problems)
        raise PlanError(f"the config cannot run as it is; nothing was started:\n{listed}")
