"""What the finetune and learned-degrees scripts share: a job's common settings from the stage's
files and params, and the order a job's outputs are written in (its resolved config first, the
metrics last, then the MLflow run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .checkpoints import write_json_atomically, write_results
from .job import FinetuneJob, Preempted, TrainingConfig
from .loop import run_finetune


def stage_job(inputs, params, seed: int, threads: int, model_output: str | None, jobs_per_gpu: int = 1,
              **specific) -> FinetuneJob:
    """A FinetuneJob from a rule's inputs (tokens, labels) and params (model, task, training,
    checkpoint_dir); ``jobs_per_gpu``: training.jobs_per_gpu, read from the config and not a param, so
    that changing it reruns nothing; ``specific``: what only this rule sets (masks and placement, or
    learned)."""
    return FinetuneJob(
        model_cfg=params.model,
        train_tokens=inputs.train_tokens,
        eval_tokens=inputs.eval_tokens,
        num_labels=len(json.loads(Path(inputs.labels).read_text())["labels"]),
        primary_metric=params.task["metric"],
        training=TrainingConfig.from_dict(params.training, seed=seed),
        checkpoint_dir=params.checkpoint_dir,
        threads=threads,
        jobs_per_gpu=jobs_per_gpu,
        model_output=model_output,
        **specific,
    )


def run_stage_job(job: FinetuneJob, resolved: dict, config_path, metrics_path, describe: Callable[[dict], dict],
                  tracking: dict | None = None, run_name: str = "") -> dict:
    """Write the resolved config, open the MLflow run, train (step and epoch metrics go to the run as
    they come), add ``describe(metrics)`` (the cell's names and its sparsity), write metrics.json
    (its checkpoints go), then close the run (or leave it pending)."""
    write_json_atomically(resolved, config_path)
    tracked = None
    if tracking is not None:
        from ..tracking import TrackedRun

        tracked = TrackedRun(tracking, Path(metrics_path).parent, run_name, resolved,
                             background=True,  # MLflow's import and calls on a thread of their own, after start-up
                             datasets={"training": job.train_tokens, "evaluation": job.eval_tokens})
    try:
        metrics = run_finetune(job, tracked)
    except BaseException as stopped:
        if tracked is not None:
            tracked.stop("KILLED" if isinstance(stopped, Preempted | KeyboardInterrupt) else "FAILED")
        raise
    metrics.update(describe(metrics))
    write_results(metrics, metrics_path, job.checkpoint_dir)
    if tracked is not None:
        tracked.finish(metrics)
    return metrics
