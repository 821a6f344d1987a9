import json
from dataclasses import asdict
from pathlib import Path

from breaking_bert.joblog import log_to

log_to(snakemake.log[0], "a")  # append: a resumed job keeps its history

from breaking_bert.finetune.stage import run_stage_job, stage_job
from breaking_bert.tracking.workflow_run import job_tracking
from breaking_bert.learned import learned_config_for_setting

wildcards, inputs = snakemake.wildcards, snakemake.input
# the config's MLflow experiment and workflow run: from the running config, no input (tracking/__init__.py)
tracking = (job_tracking(inputs.tracking, snakemake.config["tracking"], snakemake.config["results_name"])
            if "tracking" in inputs.keys() else None)
frozen_windows = None
if "learned_run" in inputs.keys():  # a control: the learned run's windows, fixed
    frozen_windows = json.loads(Path(inputs.learned_run).read_text())["learned_windows"]
learned = learned_config_for_setting(snakemake.params.learned, wildcards.variant, wildcards.setting, frozen_windows)
job = stage_job(inputs, snakemake.params, int(wildcards.seed), snakemake.threads, snakemake.output.get("model"),
                snakemake.config["training"]["jobs_per_gpu"], placement="all", learned=learned)
resolved = {
    "task": wildcards.task,
    "variant": wildcards.variant,
    "setting": wildcards.setting,
    "seed": int(wildcards.seed),
    "task_config": snakemake.params.task,
    "learned": asdict(learned),
    "model": snakemake.params.model,
    "training": snakemake.params.training,
}
run_stage_job(
    job, resolved, snakemake.output.config, snakemake.output.metrics,
    lambda metrics: dict(
        task=wildcards.task,
        variant=wildcards.variant,
        setting=wildcards.setting,
        seed=int(wildcards.seed),
        sparsity_mean=metrics["eval_sparsity_mean"],
        sparsity_std=metrics["eval_sparsity_std"],
        effective_sparsity_mean=metrics["eval_effective_sparsity_mean"],
    ),
    tracking, f"{wildcards.task}/learned-{wildcards.variant}/{wildcards.setting}/seed{wildcards.seed}",
)
