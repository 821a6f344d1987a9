"""Reruns report only their own result: a changed value trains anew, an unchanged config schedules
nothing, finished runs leave no checkpoints, local data files are inputs (issue: reruns)."""

import json
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from conftest import copy_workflow
from conftest import SNAKEMAKE, finetune_grid_only, scheduled_jobs, snakemake, tiny_config

pytestmark = pytest.mark.slow

CELL = "results/runs/tiny/neighbour/late/seed0"
DOWNSTREAM_OF_FINETUNE = {"aggregate": 1, "figure_score_by_pattern_and_placement": 1, "figure_score_vs_sparsity": 1,
                          "findings": 1, "track_summaries": 1, "all": 1}


def _config(directory: Path, csv: Path, model_dir: Path) -> dict:
    config = finetune_grid_only(tiny_config(model_dir, csv))
    config["patterns"] = {"dense": {"kind": "dense"}, "neighbour": {"kind": "neighbour", "degrees": {"w": 1}}}
    config["experiments"] = {"e": {"tasks": ["tiny"], "patterns": ["neighbour"], "placements": ["late"]}}
    config["training"].update(epochs=2, checkpoint_every_steps=1)
    return config


def _write(directory: Path, config: dict) -> None:
    (directory / "test_config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))


def _metrics(directory: Path, cell: str = CELL) -> dict:
    return json.loads((directory / cell / "metrics.json").read_text())


def _comparable(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("score", "history", "fingerprint", "resumed")}


@pytest.fixture(scope="module")
def finished(tiny_model_dir, tiny_csv, tmp_path_factory):
    """A finished tiny run (dense + neighbour at the late layers, MLflow on) with its own copy of the CSV."""
    directory = copy_workflow(tmp_path_factory.mktemp("reruns"))
    csv = directory / "data" / "tiny.csv"
    csv.parent.mkdir()
    shutil.copy2(tiny_csv, csv)
    config = _config(directory, csv, tiny_model_dir)
    _write(directory, config)
    snakemake(directory)
    return directory, config, _metrics(directory)


def test_a_finished_run_leaves_no_checkpoint_and_records_its_fingerprint(finished):
    directory, _, first = finished
    assert not list(directory.glob("results/runs/**/checkpoints")), "checkpoints are scratch"
    assert sorted(p.name for p in (directory / CELL).iterdir()) == ["benchmark.tsv", "config.json", "metrics.json",
                                                                    "train.log"]
    assert len(first["fingerprint"]) == 16 and first["resumed"] is False
    assert first["identity"]["training.learning_rate"] == 1e-3 and first["identity"]["inputs.train_masks"]


def test_reordering_config_keys_schedules_nothing(finished):
    directory, config, _ = finished

    def reversed_keys(value):
        if isinstance(value, dict):
            return {key: reversed_keys(value[key]) for key in reversed(list(value))}
        return value

    try:
        _write(directory, reversed_keys(config))
        assert scheduled_jobs(directory) == {}
    finally:
        _write(directory, config)


def test_more_jobs_per_gpu_reruns_nothing_and_is_recorded(finished):
    """training.jobs_per_gpu decides where jobs run, not what they compute: no rerun; each run's
    metrics.json says under which setting and claim it ran."""
    directory, config, first = finished
    assert first["jobs_per_gpu"] == 1 and first["device_claim"] == "cpu" and first["gpu_slots"] == []
    shared = json.loads(json.dumps(config))
    shared["training"]["jobs_per_gpu"] = 4
    try:
        _write(directory, shared)
        assert scheduled_jobs(directory) == {}
    finally:
        _write(directory, config)


def test_a_new_tracking_store_reruns_no_finetune(finished):
    directory, config, _ = finished
    moved = json.loads(json.dumps(config))
    moved["tracking"]["uri"] = "sqlite:///results/mlflow/elsewhere.db"
    try:
        _write(directory, moved)
        assert scheduled_jobs(directory) == {"init_tracking": 1, "track_summaries": 1, "all": 1}, \
            "the summaries go to the new store"
    finally:
        _write(directory, config)


def test_editing_one_row_of_the_local_csv_reruns_the_data_stage_and_its_dependants(finished):
    directory, config, _ = finished
    csv = Path(config["tasks"]["tiny"]["path"])
    original, stat = csv.read_text(), csv.stat()
    try:
        lines = original.splitlines(keepends=True)
        lines[1] = lines[1].replace("gripping", "riveting")
        csv.write_text("".join(lines))
        assert scheduled_jobs(directory) == {"prepare_data": 1, "tokens": 1, "masks": 1, "finetune": 2, "figure_mask_gallery": 1,
                                             **DOWNSTREAM_OF_FINETUNE}
    finally:
        csv.write_text(original)
        os.utime(csv, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    assert scheduled_jobs(directory) == {}


def test_a_changed_learning_rate_trains_anew_and_forcerun_reproduces_the_first_run(finished):
    directory, config, first = finished
    changed = json.loads(json.dumps(config))
    changed["training"]["learning_rate"] = 3e-4
    try:
        _write(directory, changed)
        assert scheduled_jobs(directory) == {"finetune": 2, **DOWNSTREAM_OF_FINETUNE}
        snakemake(directory)
        rerun = _metrics(directory)
        assert rerun["resumed"] is False and rerun["training"]["learning_rate"] == 3e-4
        assert rerun["history"] != first["history"], "trained anew, not the old run's history"
        assert rerun["fingerprint"] != first["fingerprint"]
        assert json.loads((directory / CELL / "config.json").read_text())["training"]["learning_rate"] == 3e-4
    finally:
        _write(directory, config)
    snakemake(directory, "--forcerun", "finetune")  # back to the first config, and forced
    again = _metrics(directory)
    assert _comparable(again) == _comparable(first), "--forcerun trains from scratch to the same metrics"
    assert "resumed from" not in (directory / CELL / "train.log").read_text()
    assert not list(directory.glob("results/runs/**/checkpoints"))


def test_killed_then_changed_learning_rate_does_not_resume_from_the_old_checkpoint(finished):
    directory, config, _ = finished
    long = json.loads(json.dumps(config))
    long["training"]["epochs"] = 300
    _write(directory, long)
    command = [*SNAKEMAKE, "--snakefile", str(directory / "Snakefile"), "--directory", str(directory),
               "--configfile", str(directory / "test_config.yaml"), "--cores", "1", f"{CELL}/metrics.json"]
    run = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        while not list((directory / CELL).glob("checkpoints/checkpoint-*/state.json")):
            assert run.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
            time.sleep(0.2)
        os.killpg(run.pid, signal.SIGTERM)  # a preemption: the job saves a checkpoint and stops
        run.wait(timeout=120)
    finally:
        if run.poll() is None:
            os.killpg(run.pid, signal.SIGKILL)
    assert list((directory / CELL).glob("checkpoints/checkpoint-*/state.json")), "the killed job left its checkpoint"
    changed = json.loads(json.dumps(config))
    changed["training"]["learning_rate"] = 3e-4
    try:
        _write(directory, changed)
        snakemake(directory, "--rerun-incomplete")
        log = (directory / CELL / "train.log").read_text()
        assert "discarding checkpoint" in log and "training.learning_rate: 0.001 -> 0.0003" in log
        rerun = _metrics(directory)
        assert rerun["resumed"] is False and [h["epoch"] for h in rerun["history"]] == [1, 2]
    finally:
        _write(directory, config)
