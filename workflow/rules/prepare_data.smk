rule prepare_data:
    """Load a task (hub id, local file, or packaged data) into tidy train/eval parquet files."""
    input:
        data=get_task_files,
        code=code_of("prepare_data.py"),
    output:
        train="results/data/{task}/train.parquet",
        eval="results/data/{task}/eval.parquet",
        labels="results/data/{task}/labels.json",
        summary="results/data/{task}/summary.json",
    log:
        "results/logs/prepare_data/{task}.log",
    benchmark:
        "results/benchmarks/prepare_data/{task}.tsv"
    conda:
        f"{ENVS}/data.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=6),
    params:
        task=get_task_data_params,
    script:
        "../scripts/prepare_data.py"
