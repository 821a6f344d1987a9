localrules:
    init_tracking,


rule init_tracking:
    """Create the MLflow store and experiment once, before the finetune jobs fan out."""
    input:
        code=code_of("init_tracking.py"),
    output:
        "results/mlflow/experiment.json",
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
