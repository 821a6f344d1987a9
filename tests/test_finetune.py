"""The finetune loop: reproducible, resumable after SIGTERM, metrics computed right."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from breaking_bert.finetune import (
    TrainingConfig,
    classification_metrics,
    length_grouped_batches,
    run_finetune,
)
from conftest import finetune_job


def _comparable(metrics: dict) -> dict:
    return {k: metrics[k] for k in ("score", "eval_accuracy", "eval_f1", "eval_matthews", "history")}


def test_same_seed_gives_identical_metrics_on_cpu(tiny_model_dir, prepared, tmp_path):
    first = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "a"))
    second = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "b"))
    assert _comparable(first) == _comparable(second)
    assert first["masked_layers"] == [2, 3] and first["num_layers"] == 4
    for key in ("train_samples_per_second", "peak_memory_mb", "device", "versions", "training"):
        assert key in first
    assert first["training"]["seed"] == 0 and first["versions"]["torch"]
    assert (first["device_claim"], first["gpu_slots"], first["jobs_per_gpu"]) == ("cpu", [], 1)
    # the kernel of each kind of sdpa call: layers 0-1 dense, 2-3 masked, in training and evaluation
    assert set(first["sdpa_kernels"]) == {"dense train", "masked train", "dense eval", "masked eval"}
    assert set(first["sdpa_kernels"].values()) <= {"MATH", "FLASH_ATTENTION", "EFFICIENT_ATTENTION", "CUDNN_ATTENTION",
                                                   "OVERRIDEABLE"}, first["sdpa_kernels"]


def test_max_steps_cuts_a_run_short_and_still_evaluates(tiny_model_dir, prepared, tmp_path):
    """training.max_steps (a rehearsal of a grid on CPU): the run stops after that many optimizer
    steps, mid-epoch if need be, evaluates once, and the cut is part of its identity."""
    full = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "full", epochs=2))
    cut = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "cut", epochs=2, max_steps=3))
    assert full["history"][-1]["step"] > 3 and len(full["history"]) == 2
    assert [entry["step"] for entry in cut["history"]] == [3] and 0 <= cut["score"] <= 1
    assert cut["training"]["max_steps"] == 3 and full["training"]["max_steps"] is None
    assert cut["fingerprint"] != full["fingerprint"]


RUNNER = """
import json, sys
sys.path.insert(0, {tests!r})
from conftest import finetune_job
from breaking_bert.finetune import run_finetune
prepared = json.loads({prepared!r})
metrics = run_finetune(finetune_job({model!r}, prepared, {checkpoints!r}, checkpoint_every_steps=1, epochs=3,
                                learning_rate={learning_rate!r}))
print("METRICS" + json.dumps(metrics, default=str))
"""


def _runner(tiny_model_dir, prepared, checkpoints, learning_rate=1e-3):
    code = RUNNER.format(tests=str(Path(__file__).parent), prepared=json.dumps(prepared),
                         model=str(tiny_model_dir), checkpoints=str(checkpoints), learning_rate=learning_rate)
    return [sys.executable, "-c", code]


def _metrics_from(stdout: str) -> dict:
    line = next(l for l in stdout.splitlines() if l.startswith("METRICS"))
    return json.loads(line[len("METRICS"):])


def _kill_mid_run(command, checkpoints):
    """Start a run, SIGTERM it once a checkpoint is on disk; returns that checkpoint's state."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(checkpoints.glob("checkpoint-*/state.json")):  # wait until training is under way
        assert process.poll() is None and time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    _, stderr = process.communicate(timeout=120)
    assert process.returncode == 143, stderr[-2000:]  # preempted: checkpoint written, non-zero exit
    state = json.loads(next(checkpoints.glob("checkpoint-*/state.json")).read_text())
    assert state["global_step"] < 3 * 5, "killed before the end"
    return state


def test_sigterm_then_restart_resumes_to_the_same_metrics(tiny_model_dir, prepared, tmp_path):
    uninterrupted = subprocess.run(_runner(tiny_model_dir, prepared, tmp_path / "full"),
                                   capture_output=True, text=True, timeout=300)
    assert uninterrupted.returncode == 0, uninterrupted.stderr[-2000:]

    checkpoints = tmp_path / "killed"
    state = _kill_mid_run(_runner(tiny_model_dir, prepared, checkpoints), checkpoints)
    assert state["fingerprint"] == _metrics_from(uninterrupted.stdout)["fingerprint"], "the checkpoint carries the run's identity"

    resumed = subprocess.run(_runner(tiny_model_dir, prepared, checkpoints), capture_output=True, text=True, timeout=300)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert "resumed from" in resumed.stderr
    resumed_metrics, full_metrics = _metrics_from(resumed.stdout), _metrics_from(uninterrupted.stdout)
    assert resumed_metrics["resumed"] is True
    assert _comparable(resumed_metrics) == _comparable(full_metrics)


def test_killed_run_with_a_changed_learning_rate_does_not_resume_from_the_old_checkpoint(tiny_model_dir, prepared, tmp_path):
    checkpoints = tmp_path / "killed"
    _kill_mid_run(_runner(tiny_model_dir, prepared, checkpoints, learning_rate=1e-3), checkpoints)
    rerun = subprocess.run(_runner(tiny_model_dir, prepared, checkpoints, learning_rate=5e-4),
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert "discarding checkpoint" in rerun.stderr and "training.learning_rate: 0.001 -> 0.0005" in rerun.stderr
    assert "resumed from" not in rerun.stderr
    metrics = _metrics_from(rerun.stdout)
    assert metrics["resumed"] is False and metrics["training"]["learning_rate"] == 5e-4
    fresh = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "fresh", checkpoint_every_steps=1, epochs=3,
                                  learning_rate=5e-4))
    assert _comparable(metrics) == _comparable(fresh), "trained from scratch at the new learning rate"
    assert metrics["fingerprint"] == fresh["fingerprint"]


def test_the_identity_names_what_differs_and_ignores_the_checkpoint_period(tiny_model_dir, prepared, tmp_path):
    from breaking_bert.attention import backend_for
    from breaking_bert.finetune import load_classifier, run_identity
    from breaking_bert.identity import differences, fingerprint

    def identity(**training):
        job = finetune_job(tiny_model_dir, prepared, tmp_path / "c", **training)
        model = load_classifier(job.model_cfg, 2, backend_for("sdpa"), "cpu")
        return run_identity(job, job.training, model)

    base = identity()
    assert fingerprint(identity(checkpoint_every_steps=7)) == fingerprint(base)
    assert differences(base, identity(learning_rate=3e-5)) == ["training.learning_rate: 0.001 -> 3e-05"]
    other_masks = finetune_job(tiny_model_dir, prepared, tmp_path / "c")
    other_masks.train_masks = prepared["eval"][1]
    changed = run_identity(other_masks, other_masks.training, load_classifier(other_masks.model_cfg, 2, backend_for("sdpa"), "cpu"))
    assert [d.split(":")[0] for d in differences(base, changed)] == ["inputs.train_masks"], "masks by content"


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
    from breaking_bert.finetune import checkpoints

    target = tmp_path / "metrics.json"
    checkpoints.write_json_atomically({"score": 0.5}, target)
    assert json.loads(target.read_text()) == {"score": 0.5}

    def crash(*args):
        raise OSError("disk gone")

    monkeypatch.setattr(checkpoints.os, "replace", crash)
    with pytest.raises(OSError):
        checkpoints.write_json_atomically({"score": 0.9}, target)
    assert json.loads(target.read_text()) == {"score": 0.5}, "the old file is intact, never half-written"
    assert list(tmp_path.iterdir()) == [target], "no temp file left behind"


def test_save_model_keeps_the_final_weights_and_write_results_removes_the_checkpoints(tiny_model_dir, prepared, tmp_path):
    from safetensors.torch import load_file

    from breaking_bert.finetune import write_results

    checkpoints = tmp_path / "checkpoints"
    job = finetune_job(tiny_model_dir, prepared, checkpoints, epochs=2, checkpoint_every_steps=1)
    job.model_output = str(tmp_path / "model")
    metrics = run_finetune(job)
    assert list(checkpoints.glob("checkpoint-*/state.json")), "a running job keeps one checkpoint"
    assert len(list(checkpoints.glob("checkpoint-*"))) == 1
    saved = load_file(tmp_path / "model" / "model.safetensors")
    initial = load_file(tiny_model_dir / "model.safetensors")
    assert saved.keys() == initial.keys()
    assert any(not (saved[k] == initial[k]).all() for k in saved), "the trained weights, not the initial ones"
    write_results(metrics, tmp_path / "metrics.json", checkpoints)
    assert json.loads((tmp_path / "metrics.json").read_text())["fingerprint"] == metrics["fingerprint"]
    assert not checkpoints.exists()


def test_the_timing_split_adds_up_to_the_process_wall_time(tiny_model_dir, prepared, tmp_path):
    """Start-up (from the process's start), training, evaluation and checkpoint writes: what they
    leave unaccounted is under 5% of the process's total, and the total is the wall time measured
    from outside but for what comes after the metrics (printing them, the interpreter's exit:
    ~1.3 s on idle cores, torch's teardown; 4.7-5.9 s measured while the other test worker and a
    background job shared the 2 cores), a fixed cost that is a few % of a real ~85 s job."""
    command = _runner(tiny_model_dir, prepared, tmp_path / "checkpoints")
    started = time.time()
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    outside = time.time() - started
    assert result.returncode == 0, result.stderr[-2000:]
    timing = _metrics_from(result.stdout)["timing"]
    assert set(timing) == {"startup", "training", "evaluation", "checkpoint", "model_save", "total", "unaccounted"}
    assert timing["startup"] > 0 and timing["training"] > 0 and timing["evaluation"] > 0
    assert timing["checkpoint"] > 0, "a checkpoint every step: their writes are counted"
    assert abs(timing["unaccounted"]) < 0.05 * timing["total"], timing
    assert outside - 8.0 < timing["total"] <= outside, (timing, outside)


def test_a_compiled_run_agrees_with_the_uncompiled_one(tiny_model_dir, prepared, tmp_path):
    """training.compile: the same model, data and seed, compiled with dynamic shapes (one graph
    for every batch length). Compiled kernels reorder float sums, so the losses agree to 1e-4 (a
    relative tolerance far below a seed's spread), not bit for bit; the predictions agree exactly.
    Three encoder layers, one of each kind a run has (late placement: an unmasked early layer, a
    masked one, the last for [CLS] only): inductor compiles every layer's kernels anew (on an AVX2
    CPU the tiny BERT's four layers took most of this test's 112 s)."""
    three_layers = tmp_path / "three-layers"
    _copy_with(tiny_model_dir, three_layers, num_hidden_layers=3)
    eager = run_finetune(finetune_job(three_layers, prepared, tmp_path / "eager", epochs=1, checkpoint_every_steps=0))
    compiled = run_finetune(finetune_job(three_layers, prepared, tmp_path / "compiled", epochs=1,
                                     checkpoint_every_steps=0, compile=True))
    assert compiled["training"]["compile"] and not eager["training"]["compile"]
    assert compiled["fingerprint"] != eager["fingerprint"], "compile is part of a run's identity"
    assert compiled["eval_loss"] == pytest.approx(eager["eval_loss"], rel=1e-4)
    for key in ("eval_accuracy", "eval_f1", "eval_matthews"):
        assert compiled[key] == eager[key], key


def test_the_last_layer_runs_for_cls_only_unless_turned_off(tiny_model_dir, prepared, tmp_path):
    """cls_only_last_layer (default on) is the same model (tests/test_cls_only.py) with fewer
    dropout draws, so it is part of a run's identity and its runs are not the full layer's, bit for
    bit; both are reported. With dropout off the two runs agree to float rounding."""
    on = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "on", epochs=1, checkpoint_every_steps=0))
    off = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "off", epochs=1, checkpoint_every_steps=0,
                                cls_only_last_layer=False))
    assert on["last_layer"] == "cls only"
    assert off["last_layer"] == "all positions: training.cls_only_last_layer is false"
    assert on["fingerprint"] != off["fingerprint"]
    without_dropout = tmp_path / "without-dropout"
    _copy_with(tiny_model_dir, without_dropout, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
               classifier_dropout=0.0)
    runs = [run_finetune(finetune_job(without_dropout, prepared, tmp_path / f"nodrop{flag}", epochs=1, checkpoint_every_steps=0,
                                  cls_only_last_layer=flag)) for flag in (True, False)]
    assert runs[0]["eval_loss"] == pytest.approx(runs[1]["eval_loss"], rel=1e-4)
    assert runs[0]["eval_accuracy"] == runs[1]["eval_accuracy"]


def _copy_with(model_dir, destination, **settings):
    """The model folder copied with these config settings changed."""
    import shutil

    shutil.copytree(model_dir, destination)
    config = json.loads((destination / "config.json").read_text())
    config.update(settings)
    (destination / "config.json").write_text(json.dumps(config))


def test_evaluating_after_the_last_epoch_only_gives_the_same_final_metrics(tiny_model_dir, prepared, tmp_path):
    """evaluate_each_epoch=false skips the intermediate evaluations: evaluation draws no random
    numbers and changes no weights, so the final metrics are those of the run that evaluates
    every epoch, bit for bit, and only the history is shorter."""
    every = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "every", epochs=3))
    last = run_finetune(finetune_job(tiny_model_dir, prepared, tmp_path / "last", epochs=3, evaluate_each_epoch=False))
    assert [h["epoch"] for h in every["history"]] == [1, 2, 3]
    assert [h["epoch"] for h in last["history"]] == [3]
    assert last["history"][0] == every["history"][-1]
    for key in ("score", "eval_loss", "eval_accuracy", "eval_f1", "eval_matthews"):
        assert last[key] == every[key], key


def test_bf16_on_cpu_is_opt_in():
    """bf16 autocast: on by default on a GPU, on a CPU only with cpu_bf16 (where it is fast only
    with bf16 instructions, and its accuracy must be read beside fp32's: docs/BENCHMARKS.md)."""
    import torch

    from breaking_bert.finetune.loop import autocast

    cpu, x = torch.device("cpu"), torch.randn(4, 8)
    for settings, expected in (({}, torch.float32), ({"cpu_bf16": True}, torch.bfloat16),
                               ({"cpu_bf16": True, "bf16": False}, torch.float32)):
        with autocast(cpu, TrainingConfig(**settings)):
            assert (x @ x.T).dtype == expected, settings
