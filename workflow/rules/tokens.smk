rule tokens:
    """Tokenize once with the model's fast tokenizer; masks and finetuning share these wordpieces."""
    input:
        train="results/data/{task}/train.parquet",
        eval="results/data/{task}/eval.parquet",
        code=code_of("tokens.py"),
    output:
        train="results/tokens/{task}/train.parquet",
        eval="results/tokens/{task}/eval.parquet",
        summary="results/tokens/{task}/summary.json",
    log:
        "results/logs/tokens/{task}.log",
    benchmark:
        "results/benchmarks/tokens/{task}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        # written in chunks of 1,000 examples: IMDB's train split (8 MiB of text) peaked at 578 MiB,
        # 1,931 when tokenized whole (docs/BENCHMARKS.md); 20 a MiB for the texts read whole, on a
        # base that leaves a SLURM job's Snakemake processes 300 MiB
        mem_mb=memory_mb(900, per_input_mb=20),
        runtime=runtime_minutes(10, per_input_mb=2),  # IMDB: 4 min for 9.5 MiB of text
    params:
        model=canonical(config["model"]),
    script:
        "../scripts/tokens.py"
