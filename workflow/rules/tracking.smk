localrules:
    init_tracking,
    track_summaries,


rule init_tracking:
    """Create (or migrate) the MLflow store once, before the finetune jobs fan out, and open this
    config's experiment and workflow run in it."""
    input:
        code=code_of("init_tracking.py"),
    output:
        # the store's, shared by every config (tracking_input says why a config's own is not an input)
        TRACKING_STORE,
    log:
        "results/logs/init_tracking.log",
    benchmark:
        "results/benchmarks/init_tracking.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=memory_mb(1000),
    params:
        tracking=only(config["tracking"], TRACKING_KEYS),
    script:
        "../scripts/init_tracking.py"


rule track_summaries:
    """This config's findings report, tables and figures as artifacts of its MLflow workflow run."""
    input:
        unpack(get_tracked_summaries_inputs),
    output:
        summary_path("mlflow/workflow_run.json"),
    log:
        summary_path("logs/track_summaries.log"),
    benchmark:
        summary_path("benchmarks/track_summaries.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000),
    params:
        experiment=tracked_experiment(),
    script:
        "../scripts/track_summaries.py"
