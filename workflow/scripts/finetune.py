import json
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # append: a resumed job keeps its history

from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune, write_json_atomically, write_results
from breaking_bert.tracking import log_run_or_leave_pending

wildcards = snakemake.wildcards
task = snakemake.params.task
job = FinetuneJob(
    model_cfg=snakemake.params.model,
    train_tokens=snakemake.input.train_tokens,
    eval_tokens=snakemake.input.eval_tokens,
    train_masks=snakemake.input.get("train_masks"),
    eval_masks=snakemake.input.get("eval_masks"),
    num_labels=len(json.loads(Path(snakemake.input.labels).read_text())["labels"]),
    placement=wildcards.placement,
    primary_metric=task["metric"],
    training=TrainingConfig.from_dict(snakemake.params.training, seed=int(wildcards.seed)),
    checkpoint_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    model_output=snakemake.output.get("model"),
)
mask_summary = json.loads(Path(snakemake.input.mask_summary).read_text()) if "mask_summary" in snakemake.input.keys() else None
resolved = {
    "task": wildcards.task,
    "pattern": wildcards.pattern,
    "placement": wildcards.placement,
    "seed": int(wildcards.seed),
    "task_config": task,
    "pattern_config": snakemake.params.pattern,
    "model": snakemake.params.model,
    "training": snakemake.params.training,
    "mask_degrees": mask_summary["degrees"] if mask_summary else None,
}
write_json_atomically(resolved, snakemake.output.config)

metrics = run_finetune(job)
metrics.update(
    task=wildcards.task,
    pattern=wildcards.pattern,
    kind=snakemake.params.pattern["kind"],
    seed=int(wildcards.seed),
    sparsity_mean=mask_summary["eval"]["sparsity_mean"] if mask_summary else 0.0,
    sparsity_std=mask_summary["eval"]["sparsity_std"] if mask_summary else 0.0,
    degree_mean=mask_summary["eval"]["degree_mean"] if mask_summary else None,
    mask_degrees=mask_summary["degrees"] if mask_summary else None,
)
write_results(metrics, snakemake.output.metrics, snakemake.params.checkpoint_dir)

if "tracking" in snakemake.input.keys():
    tracking = json.loads(Path(snakemake.input.tracking).read_text())
    run_name = f"{wildcards.task}/{wildcards.pattern}/{wildcards.placement}/seed{wildcards.seed}"
    log_run_or_leave_pending(tracking, Path(snakemake.output.metrics).parent, run_name, resolved, metrics)
