"""What a training job (finetune, learn_degrees) asks its scheduler for: host memory (``mem_mb``)
and wall time (``runtime``, minutes), reckoned from the model's shape, the batch, the device and
the task's size, so that a tiny model does not reserve gigabytes or hours and a long-text job on a
cluster is not killed for memory or time. Standard library only: the scheduling process calls it.
The constants are measured (docs/BENCHMARKS.md, "Memory per job" and "Experiments per hour");
``./run.sh memory`` checks every job of a run against both declarations.
"""

from __future__ import annotations

import math

from ..preflight import model_settings

# Host memory: the interpreter, torch, transformers, the task's tokens and masks; the weights and
# activations are added (a MiniLM finetune at 8 x 256 wordpieces on CPU, all of it, peaked at 2,110 MiB).
TRAINING_BASE_MB = 2000
UNKNOWN_MODEL_MB = 8000  # a hub model not in the local cache: its shape is unknown while planning
RETRY_MEMORY_GROWTH = 0.5  # a job resubmitted (preempted, out of memory) asks for 50% more each attempt

# Wall time. One CPU thread trains at ~85 GFLOP/s (a MiniLM job: 43.8 samples/s of ~30 wordpieces,
# forward and backward, on an AVX-512 EPYC core); a GPU is reckoned at 20 TFLOP/s (bf16 autocast,
# a BERT-base-sized model) plus 0.1 s a step, which is what small models are bound by in a job's own
# process (MiniLM and a bert-base-sized model on an H200: 300-365 samples/s in batches of 32; ~1,650
# in a warm process). Twice the cores give 1.6x (docs/BENCHMARKS.md).
CPU_FLOPS_PER_THREAD = 85e9
GPU_FLOPS = 20e12
GPU_SECONDS_PER_STEP = 0.1
# a learned run's work against a finetune's of the same task and shape (soft windows per head and
# attention score; evaluated soft and hardened): the rehearsal measured 1.4x the training time and
# ~3x the evaluation time on CPU (docs/BENCHMARKS.md); not measured on a GPU
LEARNED_WORK_FACTOR = 3
START_UP_MINUTES = 10  # imports, the model and the data read, checkpoints, MLflow
SAFETY = 3  # a slower CPU (AVX2 only), an older GPU, a shared node
UNKNOWN_MODEL_MINUTES = 240  # no shape or no task size to reckon from


def model_shape(model: dict) -> tuple[int, int, int] | None:
    """(hidden size, layers, heads) from the model's config.json; None while it is not known."""
    settings = model_settings(model) or {}
    shape = [settings.get(key) for key in ("hidden_size", "num_hidden_layers", "num_attention_heads")]
    return tuple(shape) if all(isinstance(value, int) for value in shape) else None


def parameter_count(model: dict) -> int | None:
    """The encoder's parameters from its config.json (embeddings and 12 hidden^2 a layer), None
    when its shape is not known while planning."""
    shape = model_shape(model)
    if shape is None:
        return None
    settings = model_settings(model) or {}
    embeddings = settings.get("vocab_size", 30522) + settings.get("max_position_embeddings", 512)
    return embeddings * shape[0] + shape[1] * 12 * shape[0] ** 2


def model_weights_mb(model: dict) -> int:
    """The model's fp32 weights in MB, for the jobs that load it beside their data (lexical masks,
    cost); an unknown model is reckoned at BERT-large's 1,340."""
    parameters = parameter_count(model)
    return int(4 * (parameters if parameters is not None else 335_000_000) / 1e6)


def training_memory_mb(model: dict, training: dict, attempt: int = 1) -> int:
    """A training job's mem_mb from the model's shape and the batch: fp32 weights, gradients and
    AdamW's two moments (16 bytes a parameter), and the activations kept for the backward pass (per
    layer, per token: ~40 bytes per hidden unit and 12 per attention score) or an evaluation batch's,
    whichever is larger. Counted on every device: on a GPU they live in its memory, but the host
    memory of a CUDA process (its libraries' and driver's) was never measured here, and is at least
    covered by that. A resubmitted job (attempt 2, 3) asks for RETRY_MEMORY_GROWTH more each time."""
    shape = model_shape(model)
    if shape is None:
        return int(UNKNOWN_MODEL_MB * (1 + RETRY_MEMORY_GROWTH * (attempt - 1)))
    hidden, layers, heads = shape
    length = model["max_length"]
    backward = training["batch_size"] * length * layers * (40 * hidden + 12 * heads * length)
    evaluation = training["eval_batch_size"] * length * (16 * hidden + 8 * heads * length)
    needed = TRAINING_BASE_MB + (16 * parameter_count(model) + max(backward, evaluation)) / 1e6
    return int(needed * (1 + RETRY_MEMORY_GROWTH * (attempt - 1)))


def forward_flops_per_token(hidden: int, layers: int, length: float) -> float:
    """The encoder's multiply-adds per token, twice: the dense layers (12 hidden^2 a layer) and the
    attention scores and their weighted sum (2 x length x hidden a layer)."""
    return 2 * layers * (12 * hidden**2 + 2 * length * hidden)


def training_runtime_minutes(model: dict, training: dict, tokens: dict | None, threads: int = 1,
                             attempt: int = 1, learned: bool = False) -> int:
    """A training job's runtime in minutes from the work it does: the training samples (epochs over
    the task, or ``max_steps`` batches) forward and backward and every evaluation pass forward, at
    the task's mean length (``tokens``: the tokens stage's summary.json), on the device it will use
    (``auto``: the rule asks for a GPU, so a GPU), times SAFETY and the attempt (a job resubmitted
    after running out of time asks for more), plus the start-up."""
    shape = model_shape(model)
    if shape is None or not tokens:
        return UNKNOWN_MODEL_MINUTES * attempt
    hidden, layers, _ = shape
    train, evaluation = tokens["train"], tokens["eval"]
    samples = training["epochs"] * train["examples"]
    if training.get("max_steps"):
        samples = min(samples, training["max_steps"] * training["batch_size"])
    passes = training["epochs"] if training["evaluate_each_epoch"] and not training.get("max_steps") else 1
    flops = (3 * samples * train["length_mean"] * forward_flops_per_token(hidden, layers, train["length_mean"])
             + passes * evaluation["examples"] * evaluation["length_mean"]
             * forward_flops_per_token(hidden, layers, evaluation["length_mean"]))
    if training["device"] == "cpu":
        seconds = flops / (CPU_FLOPS_PER_THREAD * max(threads, 1) ** 0.7)
    else:
        steps = samples / training["batch_size"] + passes * evaluation["examples"] / training["eval_batch_size"]
        seconds = flops / GPU_FLOPS + steps * GPU_SECONDS_PER_STEP
    seconds *= LEARNED_WORK_FACTOR if learned else 1
    return math.ceil(START_UP_MINUTES + SAFETY * seconds / 60) * attempt
