import json
import sys
from pathlib import Path

sys.stderr = open(snakemake.log[0], "a", buffering=1)  # append: a resumed job keeps its history

from dataclasses import asdict

from breaking_bert.finetune import FinetuneJob, TrainingConfig, run_finetune, write_json_atomically, write_results
from breaking_bert.learned import learned_config_for_setting
from breaking_bert.tracking import log_run_or_leave_pending

wildcards = snakemake.wildcards
task = snakemake.params.task
frozen_windows = None
if "learned_run" in snakemake.input.keys():  # a control: the learned run's windows, fixed
    frozen_windows = json.loads(Path(snakemake.input.learned_run).read_text())["learned_windows"]
learned = learned_config_for_setting(snakemake.params.learned, wildcards.variant, wildcards.setting, frozen_windows)
job = FinetuneJob(
    model_cfg=snakemake.params.model,
    train_tokens=snakemake.input.train_tokens,
    eval_tokens=snakemake.input.eval_tokens,
    num_labels=len(json.loads(Path(snakemake.input.labels).read_text())["labels"]),
    placement="all",
    primary_metric=task["metric"],
    training=TrainingConfig.from_dict(snakemake.params.training, seed=int(wildcards.seed)),
    checkpoint_dir=snakemake.params.checkpoint_dir,
    threads=snakemake.threads,
    learned=learned,
    model_output=snakemake.output.get("model"),
)
resolved = {
    "task": wildcards.task,
    "variant": wildcards.variant,
    "setting": wildcards.setting,
    "seed": int(wildcards.seed),
    "task_config": task,
    "learned": asdict(learned),
    "model": snakemake.params.model,
    "training": snakemake.params.training,
}
write_json_atomically(resolved, snakemake.output.config)

metrics = run_finetune(job)
metrics.update(
    task=wildcards.task,
    variant=wildcards.variant,
    setting=wildcards.setting,
    seed=int(wildcards.seed),
    sparsity_mean=metrics["eval_sparsity_mean"],
    sparsity_std=metrics["eval_sparsity_std"],
)
write_results(metrics, snakemake.output.metrics, snakemake.params.checkpoint_dir)

if "tracking" in snakemake.input.keys():
    tracking = json.loads(Path(snakemake.input.tracking).read_text())
    run_name = f"{wildcards.task}/learned-{wildcards.variant}/{wildcards.setting}/seed{wildcards.seed}"
    log_run_or_leave_pending(tracking, Path(snakemake.output.metrics).parent, run_name, resolved, metrics)
