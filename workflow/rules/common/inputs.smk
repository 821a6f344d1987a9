"""The input functions of the rules: which files each job reads, by wildcards."""


def get_cost_files(name):
    """results/cost/<task>/<pattern>/<name> for every sparse pattern that a finetune job uses."""
    pairs = sorted({(t, p) for t, p, _, _ in get_runs() if not is_dense(p)})
    return [f"results/cost/{t}/{p}/{name}" for t, p in pairs]


def get_mask_inputs(wildcards):
    """Tokens always; parses, model embeddings or a reference mask set only when the pattern needs them."""
    needs = pattern_needs(wildcards.pattern)
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "code": code_of("masks.py"),
    }
    if "parse" in needs:
        inputs["train_parses"] = f"results/parses/{wildcards.task}/train.parquet"
        inputs["eval_parses"] = f"results/parses/{wildcards.task}/eval.parquet"
    if "reference" in needs:
        reference = config["patterns"][wildcards.pattern]["reference"]
        seed = vocabulary.parse_draw(wildcards.draw)
        reference_dir = mask_dir(wildcards.task, reference, seed)
        inputs["reference_train"] = f"{reference_dir}/train.npz"
        inputs["reference_eval"] = f"{reference_dir}/eval.npz"
    return inputs


def lexical_model_copies(wildcards):
    """A masks job loads the model (twice over, briefly: the model, then its embeddings' copy) only
    for a pattern built from the input embeddings."""
    return 2 if "embeddings" in pattern_needs(wildcards.pattern) else 0


def tracking_input():
    """The MLflow store a job logs to, shared by every config in the folder; a job reads its config's
    experiment from the running config (tracking/__init__.py), since an input naming the config would
    retrain each run that configs share. ancient(): where the results are logged is no part of them,
    so a new store (tracking.uri) reruns init_tracking and no training job."""
    return ancient(TRACKING_STORE)


def get_finetune_inputs(wildcards):
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "labels": f"results/data/{wildcards.task}/labels.json",
        # what runs in the job (tests/test_config.py checks the list against the script's imports):
        # not learned/ (it runs in learn_degrees jobs only) nor the mask builders (the mask files
        # carry their changes), so editing them reruns only what they change
        "code": code_of("finetune.py"),
    }
    if not is_dense(wildcards.pattern):
        masks = mask_dir(wildcards.task, wildcards.pattern, wildcards.seed)
        inputs.update(
            train_masks=f"{masks}/train.npz",
            eval_masks=f"{masks}/eval.npz",
            mask_summary=f"{masks}/summary.json",
        )
    if config["tracking"]["enabled"]:
        inputs["tracking"] = tracking_input()
    return inputs


def get_learned_inputs(wildcards):
    inputs = {
        "train_tokens": f"results/tokens/{wildcards.task}/train.parquet",
        "eval_tokens": f"results/tokens/{wildcards.task}/eval.parquet",
        "labels": f"results/data/{wildcards.task}/labels.json",
        "code": code_of("learned.py"),
    }
    if vocabulary.is_control(wildcards.variant):  # the learned run's final windows
        learned_run = learned_dir(
            wildcards.task,
            vocabulary.learned_variant(wildcards.variant),
            wildcards.setting,
            wildcards.seed,
        )
        inputs["learned_run"] = f"{learned_run}/metrics.json"
    if config["tracking"]["enabled"]:
        inputs["tracking"] = tracking_input()
    return inputs


def get_score_vs_sparsity_inputs(wildcards):
    inputs = {
        "summary": summary_path("tables/summary.csv"),
        "code": code_of("figure_score_vs_sparsity.py"),
    }
    if get_learned_runs():
        inputs["learned"] = summary_path("tables/learned_summary.csv")
    return inputs


def get_findings_inputs(wildcards):
    inputs = {
        "runs": summary_path("tables/runs.csv"),
        # each run's eval predictions: the intervals cover the eval set's sampling (differences.py)
        "metrics": get_metrics_files(wildcards),
        "summary": summary_path("tables/summary.csv"),
        "eval_sampling": summary_path("tables/eval_sampling.csv"),
        "code": code_of("findings.py"),
        "design": DESIGN_FILE,  # a report of another design never stands in (design.smk)
    }
    if get_learned_runs():
        inputs["learned_runs"] = summary_path("tables/learned_runs.csv")
        inputs["learned_metrics"] = get_learned_metrics_files(wildcards)
        inputs["learned_summary"] = summary_path("tables/learned_summary.csv")
    if config["cost"]["enabled"]:
        inputs["retained"] = summary_path("tables/retained_mass.csv")
        inputs["cost"] = summary_path("tables/cost.csv")
    return inputs


def get_tracked_summaries():
    """The marker of this config's summaries logged on its MLflow workflow run, when tracking is on."""
    return (
        [summary_path("mlflow/workflow_run.json")]
        if config["tracking"]["enabled"]
        else []
    )


def get_tracked_summaries_inputs(wildcards):
    """What track_summaries logs: the config's findings report, its tables (CSV with their Markdown
    and HTML copies) and figures (PNG and PDF), the learned windows and the kernel timing, each one
    a rule makes for this config; and the store. Not the looks (their decisions are in the report).
    """
    findings_inputs = get_findings_inputs(wildcards).values()
    wanted = {
        *get_final_outputs(),
        *(path for path in findings_inputs if isinstance(path, str)),
        summary_path("findings.html"),
    }
    if get_learned_runs():
        wanted.add(summary_path("tables/learned_windows.csv"))
    if config["cost"]["enabled"]:
        wanted.add(summary_path("cost/kernel_timing.csv"))
    copies = {
        str(Path(path).with_suffix(suffix))
        for path in wanted
        for suffix in (".csv", ".md", ".html", ".png", ".pdf")
    }
    summaries = sorted(
        path
        for path in (wanted | copies)
        if path.startswith(f"{SUMMARIES}/")
        and not path.startswith(summary_path("looks/"))
        and any(rule.is_producer(path) for rule in workflow.rules)
    )
    return {
        "summaries": summaries,
        # not ancient: a new store (init_tracking rerun) gets the summaries too
        "tracking": TRACKING_STORE,
        "code": code_of("track_summaries.py"),
    }
