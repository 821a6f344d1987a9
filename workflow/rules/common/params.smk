"""What each job reads of the config (its params, canonical, so that only a change to what it reads
reruns it) and the library files each rule's script runs (its code inputs, derived from its imports).
"""


def canonical(value):
    """A param as Snakemake should compare it. Snakemake compares params by repr(), where a dict's
    key order counts: keys sorted, recursively, so reordering a YAML file reruns nothing. Defaults
    are the schema's, filled in by validate() above whether a key is written or not."""
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [canonical(item) for item in value]
    return value


def only(section, keys):
    """The keys of a config section that a job reads, canonical (see docs/DESIGN.md, reruns)."""
    return canonical({key: section[key] for key in keys if key in section})


def without(section, keys):
    return canonical({key: value for key, value in section.items() if key not in keys})


# what each job reads of the config; a key outside these reruns none of those jobs
TASK_DATA_KEYS_NOT_READ = ("metric",)  # the metric is the finetune's business
# save_model: an output (the model folder); jobs_per_gpu: where a job runs, not what it computes (the
# scripts read it from the config, so that changing it reruns nothing)
TRAINING_KEYS_NOT_READ = ("save_model", "jobs_per_gpu")
LEARNED_SWEEP_KEYS = (
    "tasks",
    "variants",
    "controls",
    "targets",
    "penalties",
)  # the grid; a job is one point
COST_KEYS = ("block_sizes", "retained_examples")
KERNEL_TIMING_KEYS = (
    "timing_patterns",
    "timing_lengths",
    "timing_sparsity",
    "block_size",
    "timing_repeats",
)
# the store's keys: a config's experiment and logging interval are read by its jobs as they run
TRACKING_KEYS = ("uri", "artifact_location")
# the store's address, made by init_tracking (named for the experiment it held once; renaming it
# would change every training job's inputs, and so retrain them all)
TRACKING_STORE = "results/mlflow/experiment.json"


def tracked_experiment():
    """This config's MLflow experiment: a param of track_summaries alone (which logs to it), so that
    another name logs the summaries again and retrains nothing (tracking/workflow_run.py).
    """
    names = importlib.import_module("breaking_bert.tracking.workflow_run")
    return names.experiment_name(config["tracking"], RESULTS_NAME)


def get_task_params(wildcards):
    return canonical(config["tasks"][wildcards.task])


def get_task_data_params(wildcards):
    return without(config["tasks"][wildcards.task], TASK_DATA_KEYS_NOT_READ)


def get_training_params():
    return without(config["training"], TRAINING_KEYS_NOT_READ)


def get_learned_params():
    """The learned windows' settings, and the special-token policy every fixed pattern follows."""
    return {
        **without(config.get("learned_sparsity", {}), LEARNED_SWEEP_KEYS),
        "special_tokens": config["masks"]["special_tokens"],
    }


def get_model_output(run_directory):
    """training.save_model: the final weights as a declared output of every finetune job."""
    if config["training"]["save_model"]:
        return {"model": directory(f"{run_directory}/model")}
    return {}


def get_task_files(wildcards):
    """Every local file a task reads (its path, its eval_path; every text of a folders task), so
    that editing one reruns the data stage and what depends on it. A hub task reads none.
    """
    task = config["tasks"][wildcards.task]
    if task["source"] == "hub":
        return []
    paths = [task["path"]] + ([task["eval_path"]] if task.get("eval_path") else [])
    files = []
    for path in (preflight.resolve_data_path(path, wildcards.task) for path in paths):
        if task["source"] == "folders":
            files += sorted(str(file) for file in path.glob("*/*.txt"))
        else:
            files.append(str(path))
    return files


def code_of(script):
    """The library files a rule's script runs, declared as the rule's inputs: Snakemake does not
    track what a script imports, and editing one of them must rerun exactly the rules that run it.
    Derived from the imports (code_inputs.py); nothing is listed by hand but what a script imports
    and never runs (code_inputs.NOT_RUN)."""
    return list(
        code_inputs.code_inputs((SCRIPTS / script).resolve(), LIBRARY.resolve())
    )


def summaries_message():
    """Where this config's summaries are, and its MLflow experiment: said when the workflow ends."""
    where = f"This config's findings, tables and figures: {Path(SUMMARIES).resolve()}/"
    if config["tracking"]["enabled"]:
        where += f"\nIts MLflow experiment: {tracked_experiment()} (tracking.uri {config['tracking']['uri']})"
    return where
