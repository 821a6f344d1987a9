"""The finetune loop: reproducible, resumable after SIGTERM, metrics computed right."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from breaking_bert.finetune import (
    FinetuneJob,
    TrainingConfig,
    classification_metrics,
    length_grouped_batches,
    run_finetune,
)


def make_job(model_dir, prepared, checkpoint_dir, placement="late", **training) -> FinetuneJob:
    settings = {"epochs": 2, "batch_size": 8, "learning_rate": 1e-3, "checkpoint_every_steps": 2, "device": "cpu", **training}
    return FinetuneJob(
        model_cfg={"name_or_path": str(model_dir)},
        train_tokens=prepared["train"][0],
        eval_tokens=prepared["eval"][0],
        train_masks=prepared["train"][1],
        eval_masks=prepared["eval"][1],
        num_labels=2,
        placement=placement,
        training=TrainingConfig.from_dict(settings, seed=0),
        checkpoint_dir=str(checkpoint_dir),
        lock_dir=str(Path(checkpoint_dir) / "locks"),
    )


def _comparable(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("score", "eval_accuracy", "eval_f1", "eval_matthews", "history")}


def test_same_seed_gives_identical_metrics_on_cpu(tiny_model_dir, prepared, tmp_path):
    first = run_finetune(make_job(tiny_model_dir, prepared, tmp_path / "a"))
    second = run_finetune(make_job(tiny_model_dir, prepared, tmp_path / "b"))
    assert _comparable(first) == _comparable(second)
    assert first["masked_layers"] == [2, 3] and first["num_layers"] == 4
    for key in ("train_samples_per_second", "peak_memory_mb", "device", "versions", "training"):
        assert key in first
    assert first["training"]["seed"] == 0 and first["versions"]["torch"]


RUNNER = """
import json, sys
sys.path.insert(0, {tests!r})
from test_finetune import make_job
from breaking_bert.finetune import run_finetune
prepared = json.loads({prepared!r})
metrics = run_finetune(make_job({model!r}, prepared, {checkpoints!r}, checkpoint_every_steps=1, epochs=3))
print("METRICS" + json.dumps(metrics, default=str))
"""


def _runner(tiny_model_dir, prepared, checkpoints):
    code = RUNNER.format(tests=str(Path(__file__).parent), prepared=json.dumps(prepared),
                         model=str(tiny_model_dir), checkpoints=str(checkpoints))
    return [sys.executable, "-c", code]


def _metrics_from(stdout: str) -> dict:
    line = next(l for l in stdout.splitlines() if l.startswith("METRICS"))
    return json.loads(line[len("METRICS"):])


def test_sigterm_then_restart_resumes_to_the_same_metrics(tiny_model_dir, prepared, tmp_path):
    uninterrupted = subprocess.run(_runner(tiny_model_dir, prepared, tmp_path / "full"),
                                   capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]

    checkpoints = tmp_path / "killed"
    process = subprocess.Popen(_runner(tiny_model_dir, prepared, checkpoints),
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("checkpoint-*/state.json")):  # wait until training is under way
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]  # preempted: checkpoint written, non-zero exit
    state = json.loads(next(checkpoints.glob("checkpoint-*/state.json")).read_text())
    assert state["global_step"] < 3 * 5, "killed before the end"

    resumed = subprocess.run(_runner(tiny_model_dir, prepared, checkpoints), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    resumed_metrics, full_metrics = _metrics_from(resumed.stdout), _metrics_from(uninterrupted.stdout)
    assert resumed_metrics["resumed"] is True
    assert _comparable(resumed_metrics) == _comparable(full_metrics)


def test_length_grouped_batches_cover_every_example_once_and_group_lengths():
    lengths = np.random.default_rng(0).integers(5, 100, size=1000)
    batches = length_grouped_batches(lengths, batch_size=16, megabatch=8, seed=3)
    flat = np.concatenate(batches)
    assert sorted(flat) == list(range(1000))
    spread = np.mean([lengths[b].max() - lengths[b].min() for b in batches])
    random_spread = np.mean([lengths[b].max() - lengths[b].min() for b in np.array_split(np.arange(1000), 63)])
    assert spread < random_spread / 3
    assert [list(b) for b in batches] == [list(b) for b in length_grouped_batches(lengths, 16, 8, 3)]


def test_classification_metrics_against_hand_computed_values():
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1])
    predictions = np.array([1, 1, 0, 0, 0, 1, 0, 1])
    # tp=3 fn=1 fp=1 tn=3: accuracy 6/8, precision = recall = 3/4, MCC = (9-1)/sqrt(4*4*4*4) = 0.5
    metrics = classification_metrics(predictions, labels, 2)
    assert metrics["accuracy"] == pytest.approx(0.75)
    assert metrics["f1"] == pytest.approx(0.75)
    assert metrics["matthews"] == pytest.approx(0.5)
    three = classification_metrics(np.array([0, 1, 2, 2]), np.array([0, 1, 2, 1]), 3)
    assert three["accuracy"] == pytest.approx(0.75)
    assert three["f1"] == pytest.approx((1 + 2 / 3 + 2 / 3) / 3)


def test_metrics_are_written_atomically(tmp_path, monkeypatch):
    from breaking_bert import finetune

    target = tmp_path / "metrics.json"
    finetune.write_json_atomically({"score": 0.5}, target)
    assert json.loads(target.read_text()) == {"score": 0.5}

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(finetune.os, "replace", crash)
    with pytest.raises(OSError):
        finetune.write_json_atomically({"score": 0.9}, target)
    assert json.loads(target.read_text()) == {"score": 0.5}, "the old file is intact, never half-written"
    assert list(tmp_path.iterdir()) == [target], "no temp file left behind"
