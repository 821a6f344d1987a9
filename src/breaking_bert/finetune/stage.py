"""What the finetune and learned-degrees scripts share: a job's common settings from the stage's
files and params, and the order a job's outputs are written in (its resolved config first, the
metrics last, then the MLflow run)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

from .checkpoints import write_json_atomically, write_results
from .job import FinetuneJob, TrainingConfig
from .loop import run_finetune


def stage_job(inputs, params, seed: int, threads: int, model_output: str | None, **specific) -> FinetuneJob:
    """A FinetuneJob from a rule's inputs (tokens, labels) and params (model, task, training,
    checkpoint_dir); ``specific``: what only this rule sets (masks and placement, or learned)."""
    return FinetuneJob(
        model_cfg=params.model,
        train_tokens=inputs.train_tokens,
        eval_tokens=inputs.eval_tokens,
        num_labels=len(json.loads(Path(inputs.labels).read_text())["labels"]),
        primary_metric=params.task["metric"],
        training=TrainingConfig.from_dict(params.training, seed=seed),
        checkpoint_dir=params.checkpoint_dir,
        threads=threads,
        model_output=model_output,
        **specific,
    )


def run_stage_job(job: FinetuneJob, resolved: dict, config_path, metrics_path, describe: Callable[[dict], dict],
                  tracking_path=None, run_name: str = "") -> dict:
    """Write the resolved config, train, add ``describe(metrics)`` (the cell's names and its
    sparsity), write metrics.json (its checkpoints go), then log to MLflow or leave the run pending."""
    write_json_atomically(resolved, config_path)
    metrics = run_finetune(job)
    metrics.update(describe(metrics))
    write_results(metrics, metrics_path, job.checkpoint_dir)
    if tracking_path is not None:
        from ..tracking import log_run_or_leave_pending

        tracking = json.loads(Path(tracking_path).read_text())
        log_run_or_leave_pending(tracking, Path(metrics_path).parent, run_name, resolved, metrics)
    return metrics
