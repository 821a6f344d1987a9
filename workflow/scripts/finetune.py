import json
from pathlib import Path

from breaking_bert.joblog import log_to

log_to(snakemake.log[0], "a")  # append: a resumed job keeps its history

from breaking_bert.finetune.stage import run_stage_job, stage_job
from breaking_bert.tracking.workflow_run import job_tracking

wildcards, inputs = snakemake.wildcards, snakemake.input
# the config's MLflow experiment and workflow run: from the running config, no input (tracking/__init__.py)
tracking = (job_tracking(inputs.tracking, snakemake.config["tracking"], snakemake.config["results_name"])
            if "tracking" in inputs.keys() else None)
job = stage_job(inputs, snakemake.params, int(wildcards.seed), snakemake.threads, snakemake.output.get("model"),
                snakemake.config["training"]["jobs_per_gpu"], train_masks=inputs.get("train_masks"),
                eval_masks=inputs.get("eval_masks"), placement=wildcards.placement)
mask_summary = json.loads(Path(inputs.mask_summary).read_text()) if "mask_summary" in inputs.keys() else None
mask_degrees = mask_summary["degrees"] if mask_summary else None
resolved = {
    "task": wildcards.task,
    "pattern": wildcards.pattern,
    "placement": wildcards.placement,
    "seed": int(wildcards.seed),
    "task_config": snakemake.params.task,
    "pattern_config": snakemake.params.pattern,
    "model": snakemake.params.model,
    "training": snakemake.params.training,
    "mask_degrees": mask_degrees,
}
evaluated = mask_summary["eval"] if mask_summary else {}
run_stage_job(
    job, resolved, snakemake.output.config, snakemake.output.metrics,
    lambda metrics: dict(
        task=wildcards.task,
        pattern=wildcards.pattern,
        kind=snakemake.params.pattern["kind"],
        seed=int(wildcards.seed),
        sparsity_mean=evaluated.get("sparsity_mean", 0.0),
        sparsity_std=evaluated.get("sparsity_std", 0.0),
        effective_sparsity_mean=metrics["eval_effective_sparsity_mean"],  # what reaches the classifier
        degree_mean=evaluated.get("degree_mean"),
        mask_degrees=mask_degrees,
    ),
    tracking, f"{wildcards.task}/{wildcards.pattern}/{wildcards.placement}/seed{wildcards.seed}",
)
