"""A finished rehearsal (config/overlays/rehearsal.yaml) read back, and the real run predicted from it:
python -m benchmarks rehearsal REHEARSAL_FOLDER FULL_SCALE_FOLDER

REHEARSAL_FOLDER: the checkout the rehearsal ran in. FULL_SCALE_FOLDER: one whose prepare_data jobs
ran the same config without the overlay (``results/data/<task>/summary.json``: the examples a GPU
box trains on). Prints, as JSON lines: the rehearsal's jobs, failures and wall time per rule; its
disk; and the real run's expected GPU hours, wall time on each number of GPUs and disk at peak.

Superseded for the GPU part by ``python -m benchmarks gpu_box`` (benchmarks/gpu_box.py), which
uses what a lent H200 measured per job in its own process (~5x slower than the warm rate this one
takes) and jobs sharing a GPU; this one still reads a rehearsal's CPU stages and disk.

How the prediction is made (every assumption is named in its output):
- CPU stages (prepare_data, parse, tokens, masks, cost): each rehearsal job's wall time times its
  task's full-scale examples over the rehearsal's (they are linear in the examples); the start-up,
  which does not grow, is counted in that product, so this errs long.
- Training jobs (finetune, learn_degrees) on a GPU: the rehearsal's start-up per job, plus the full
  run's wordpieces (epochs x examples x mean length, and one evaluation pass) at two rates that
  bound it: the engine's measured H200 throughput on Rotten Tomatoes sentences, taken as
  wordpieces per second (the slow bound: a small model is bound by its per-step overhead, so longer
  sequences would run at least this fast), and the FLOP rate ``resources.training`` reckons with
  (the fast bound). A learned run's steps cost what the rehearsal measured against a finetune's.
- Wall time on G GPUs and ``cores`` CPU cores: at least the larger of the GPU work over G and the
  CPU work over the cores the GPU jobs leave, at most their sum (no overlap).
"""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

from breaking_bert.resources.check import declared_jobs, measured
from breaking_bert.resources.training import (
    GPU_FLOPS,
    forward_flops_per_token,
    model_shape,
    parameter_count,
)

from .common import report
from .gpu_box import GPU_SECONDS_PER_STEP_WARM

H200_SAMPLES_PER_SECOND = 1541  # the engine, sparse masks, bf16 (docs/BENCHMARKS.md, "On a GPU")
H200_SAMPLES_LENGTH = 27  # Rotten Tomatoes' mean wordpieces, which that benchmark trained on
CPU_RULES = ("prepare_data", "parse", "tokens", "masks", "cost")
TRAINING_RULES = ("finetune", "learn_degrees")


def task_of(benchmark: str, tasks: list[str]) -> str | None:
    return next((task for task in tasks if re.search(rf"(^|[/_]){task}([/_.]|$)", benchmark)), None)


def disk_mb(folder: Path) -> dict[str, float]:
    sizes = {}
    for line in subprocess.run(["du", "-sk", *sorted(map(str, folder.glob("results/*")))],
                               capture_output=True, text=True).stdout.splitlines():
        kb, path = line.split("\t")
        sizes[Path(path).name] = int(kb) / 1024
    return sizes


def examples(folder: Path, task: str, kind: str) -> dict:
    return json.loads((folder / f"results/{kind}/{task}/summary.json").read_text())


def rehearsal_jobs(folder: Path):
    jobs = measured(folder, declared_jobs(folder))
    tasks = sorted(p.name for p in (folder / "results/tokens").iterdir())
    jobs["task"] = [task_of(b, tasks) for b in jobs["benchmark"]]
    jobs["wall_s"] = jobs["wall_min"] * 60
    return jobs, tasks


def training_seconds(folder, tasks, full, config):
    """Per task and rule: the full run's GPU seconds per job, slow and fast bounds."""
    training = config["training"]
    hidden, layers, _ = model_shape(config["model"])
    per_job = {}
    for task in tasks:
        tokens = examples(folder, task, "tokens")
        length = tokens["train"]["length_mean"]
        train = training["epochs"] * full[task]["train"]["examples"] * length
        evaluate = full[task]["eval"]["examples"] * tokens["eval"]["length_mean"]
        steps = training["epochs"] * full[task]["train"]["examples"] / training["batch_size"]
        slow = (3 * train + evaluate) / (3 * H200_SAMPLES_PER_SECOND * H200_SAMPLES_LENGTH)
        fast = (3 * train + evaluate) * forward_flops_per_token(hidden, layers, length) / GPU_FLOPS + steps * GPU_SECONDS_PER_STEP_WARM
        per_job[task] = (slow, fast)
    return per_job


def predict(folder: Path, full_folder: Path, gpus=(1, 4), cores: int = 8) -> None:
    import yaml

    jobs, tasks = rehearsal_jobs(folder)
    failed = sum(len(re.findall(r"^Error in rule", log.read_text(errors="replace"), flags=re.M))
                 for log in (folder / ".snakemake/log").glob("*.log"))
    for rule, group in jobs.groupby("rule"):
        report("rehearsal_rule", rule=rule, jobs=len(group), wall_s_sum=round(group["wall_s"].sum()),
               wall_s_mean=round(group["wall_s"].mean(), 1), wall_s_max=round(group["wall_s"].max(), 1))
    report("rehearsal", jobs=len(jobs), failed=failed, disk_mb={k: round(v, 1) for k, v in disk_mb(folder).items()})

    config = yaml.safe_load((folder / "config/embedded_gpu.yaml").read_text())
    full = {task: examples(full_folder, task, "data") for task in tasks}
    scale = {task: full[task]["train"]["examples"] / examples(folder, task, "data")["train"]["examples"] for task in tasks}
    cpu = jobs[jobs["rule"].isin(CPU_RULES)]
    cpu_seconds = float(sum(row.wall_s * scale.get(row.task, 1) for row in cpu.itertuples()))
    training = jobs[jobs["rule"].isin(TRAINING_RULES)]
    startup = {}
    for rule in TRAINING_RULES:
        files = [folder / Path(b).with_name("metrics.json") for b in training[training["rule"] == rule]["benchmark"]]
        timings = [json.loads(file.read_text())["timing"] for file in files if file.exists()]  # not a running job's
        startup[rule] = sum(t["startup"] for t in timings) / len(timings)
        startup[f"{rule}_training"] = sum(t["training"] for t in timings) / len(timings)
    learned_factor = startup["learn_degrees_training"] / startup["finetune_training"]
    per_job = training_seconds(folder, tasks, full, config)
    gpu = [0.0, 0.0]
    for row in training.itertuples():
        factor = learned_factor if row.rule == "learn_degrees" else 1
        for bound in (0, 1):
            gpu[bound] += startup[row.rule] + factor * per_job[row.task][bound]
    report("prediction_inputs", full_train_examples={t: full[t]["train"]["examples"] for t in tasks},
           scale=scale, startup_s={k: round(v, 1) for k, v in startup.items()}, learned_factor=round(learned_factor, 2),
           gpu_s_per_finetune={t: [round(v) for v in per_job[t]] for t in tasks})
    # the data stages' files grow with the training examples, the runs' (their eval predictions)
    # with the evaluated ones; the rest (logs, benchmarks, MLflow, tables, figures) is counted as is
    disk = disk_mb(folder)
    train_scale = sum(scale.values()) / len(scale)
    eval_scale = sum(full[t]["eval"]["examples"] / examples(folder, t, "data")["eval"]["examples"] for t in tasks) / len(tasks)
    final_mb = sum(size * (train_scale if name in ("masks", "parses", "tokens", "data")
                           else eval_scale if name in ("runs", "learned") else 1) for name, size in disk.items())
    # weights and AdamW's two moments, twice while a checkpoint is replaced, per running job
    checkpoint_mb = 2 * 12 * parameter_count(config["model"]) / 1e6
    for count in gpus:
        free_cores = max(cores - 2 * count, 1)  # profiles/local gives a GPU job 2 threads
        hours = [(max(g / count, cpu_seconds / free_cores) / 3600, (g / count + cpu_seconds / free_cores) / 3600) for g in gpu]
        report("prediction", gpus=count, cores=cores, gpu_hours_slow_fast=[round(g / 3600, 1) for g in gpu],
               cpu_hours=round(cpu_seconds / 3600, 1),
               wall_hours_slow=[round(h, 1) for h in hours[0]], wall_hours_fast=[round(h, 1) for h in hours[1]],
               disk_peak_gb=round((final_mb + count * checkpoint_mb) / 1024, 1))
