"""The GPU-box run of config/embedded_gpu.yaml predicted from what was measured on a lent H200:
python -m benchmarks gpu_box FULL_SCALE_FOLDER [CPU_HOURS]

FULL_SCALE_FOLDER: a checkout where the config's prepare_data and tokens jobs ran at full scale
(``results/{data,tokens}/<task>/summary.json``: the examples and their mean length). CPU_HOURS:
the CPU stages' work (data, parses, masks, cost), default the rehearsal's 6.5 (docs/BENCHMARKS.md).
Prints JSON lines: the inputs, the GPU hours of the training jobs, and the wall time for GPUs x jobs
per GPU x cores.

How (every assumption is printed):
- The jobs per task and rule come from a dry run of the config in FULL_SCALE_FOLDER.
- A training job on the GPU takes the measured start-up (11.3 s: process start to first step on
  the lent machine) plus its work. The range's warm end: the slower of its steps at the per-step
  overhead of a warm process (GPU_SECONDS_PER_STEP_WARM) and its arithmetic at the FLOP rate
  resources.training reckons with. Its cold end: the slowest of those, its steps at the measured
  0.1 s of a job in its own fresh process (as every workflow job is), and its wordpieces at the
  engine's warm rate on short sentences (overhead-bound there: long texts go at least as fast).
  Neither end is a proof; both come from one lent machine, MiniLM, and short sentences.
- A learned run does LEARNED_FACTOR times a finetune's work (the rehearsal's ratio of training time).
- K jobs sharing a device give PACKING[K] times one job's throughput (measured, bert-base-sized,
  warmed); jobs at once = min(GPUs x jobs_per_gpu, cores // threads per job (2, profiles/local)).
- Wall time: at least the larger of the CPU phase (its work over the cores, and no shorter than
  its longest chain of jobs, CPU_CRITICAL_PATH_H) and the GPU phase, at most their sum (the masks a
  finetune needs are made first).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import yaml

from breaking_bert.resources.training import (GPU_FLOPS, GPU_SECONDS_PER_STEP, forward_flops_per_token, model_shape,
                                             parameter_count)

from .common import report

JOB_STARTUP_S = 11.3  # the lent H200 machine, 16 cores (docs/BENCHMARKS.md, "On a GPU again")
GPU_SECONDS_PER_STEP_WARM = 32 / 1650  # the engine in a warm process: ~1,650 samples/s, batches of 32
GPU_SECONDS_PER_STEP_COLD = GPU_SECONDS_PER_STEP  # a job in its own process: 300-365 samples/s in batches of 32
WARM_WORDPIECES_PER_S = 1541 * 27  # the engine, sparse masks, bf16, on Rotten Tomatoes' 27 wordpieces
PACKING = {1: 1.0, 2: 1.9, 4: 3.9, 8: 6.9}  # device throughput with K jobs at once, over one job's
LEARNED_FACTOR = 1.72  # a learned run's training time over a finetune's, the rehearsal (CPU)
THREADS_PER_JOB = 2  # profiles/local's set-threads for finetune and learn_degrees
# the longest chain of CPU jobs before a training job can start, one core each: IMDB's train parse
# (70 min) and its syntax masks (5.4 min since they compute hops among the model's words only; 33
# before), measured at full scale (docs/BENCHMARKS.md)
CPU_CRITICAL_PATH_H = (70 + 5.4) / 60
SETUPS = ((1, 1, 8), (1, 4, 8), (4, 1, 8), (4, 8, 32), (4, 8, 64))  # GPUs, jobs per GPU, cores


def planned_jobs(folder: Path, config: str) -> Counter:
    """(rule, task) -> jobs, for the training rules, from a dry run of the config."""
    run = subprocess.run([sys.executable, "-m", "snakemake", "-n", "--configfile", config], cwd=folder,
                         capture_output=True, text=True, check=True)
    blocks = re.findall(r"^rule (finetune|learn_degrees):\n(?:.*\n)*?\s+wildcards: (.*)$", run.stdout, flags=re.M)
    return Counter((rule, dict(w.split("=", 1) for w in wildcards.split(", "))["task"]) for rule, wildcards in blocks)


def job_seconds(task: dict, training: dict, shape) -> tuple[float, float]:
    """One finetune's GPU seconds (warm end, cold end): start-up plus the slowest limit."""
    hidden, layers, _ = shape
    train = training["epochs"] * task["train_examples"]
    wordpieces = train * task["train_length"] * 3 + task["eval_examples"] * task["eval_length"]  # backward ~2x forward
    steps = math.ceil(train / training["batch_size"]) + math.ceil(task["eval_examples"] / training["eval_batch_size"])
    flops = wordpieces * forward_flops_per_token(hidden, layers, task["train_length"]) / GPU_FLOPS
    # the warm end: a job no faster than its steps' overhead in a warm process or its arithmetic;
    # the cold end: its steps at the fresh-process rate, or its wordpieces at the rate measured on
    # short sentences (overhead-bound there, so long texts would go at least that fast), the slower
    warm = max(steps * GPU_SECONDS_PER_STEP_WARM, flops)
    cold = max(steps * GPU_SECONDS_PER_STEP_COLD, wordpieces / 3 / WARM_WORDPIECES_PER_S, flops)
    return JOB_STARTUP_S + warm, JOB_STARTUP_S + cold


def packing(jobs_per_device: float) -> float:
    known = sorted(PACKING)
    return float(np.interp(jobs_per_device, known, [PACKING[k] for k in known]))


def predict_gpu_box(folder, cpu_hours: float = 6.5, config: str = "config/embedded_gpu.yaml") -> None:
    folder = Path(folder)
    from snakemake.utils import validate

    settings = yaml.safe_load((folder / config).read_text())
    validate(settings, str(folder / "config/schema.yaml"), set_default=True)  # the schema's defaults, as a run has them
    training = settings["training"]
    shape = model_shape(settings["model"])
    tasks = {}
    for name in settings["tasks"]:
        data = json.loads((folder / f"results/data/{name}/summary.json").read_text())
        tokens = json.loads((folder / f"results/tokens/{name}/summary.json").read_text())
        tasks[name] = {"train_examples": data["train"]["examples"], "eval_examples": data["eval"]["examples"],
                       "train_length": tokens["train"]["length_mean"], "eval_length": tokens["eval"]["length_mean"]}
    jobs = planned_jobs(folder, config)
    per_job = {name: job_seconds(task, training, shape) for name, task in tasks.items()}
    gpu = [sum(count * per_job[task][end] * (LEARNED_FACTOR if rule == "learn_degrees" else 1)
               for (rule, task), count in jobs.items()) for end in (0, 1)]
    report("gpu_box_inputs", tasks=tasks, jobs={f"{rule}/{task}": n for (rule, task), n in sorted(jobs.items())},
           gpu_s_per_finetune_warm_cold={t: [round(s) for s in v] for t, v in per_job.items()},
           startup_s=JOB_STARTUP_S, seconds_per_step_warm_cold=[round(GPU_SECONDS_PER_STEP_WARM, 4), GPU_SECONDS_PER_STEP_COLD],
           learned_factor=LEARNED_FACTOR, packing=PACKING, cpu_hours=cpu_hours)
    checkpoint_gb = 2 * 12 * parameter_count(settings["model"]) / 1e9  # weights and AdamW's moments, twice
    for gpus, per_gpu, cores in SETUPS:
        at_once = min(gpus * per_gpu, cores // THREADS_PER_JOB)
        speed = gpus * packing(at_once / gpus)
        phase = [g / speed / 3600 for g in gpu]
        cpu = max(cpu_hours / cores, CPU_CRITICAL_PATH_H)
        report("gpu_box", gpus=gpus, jobs_per_gpu=per_gpu, cores=cores, jobs_at_once=at_once,
               gpu_hours_warm_cold=[round(g / 3600, 1) for g in gpu],
               wall_hours_warm=[round(max(cpu, phase[0]), 1), round(cpu + phase[0], 1)],
               wall_hours_cold=[round(max(cpu, phase[1]), 1), round(cpu + phase[1], 1)],
               checkpoints_gb=round(at_once * checkpoint_gb, 1))
