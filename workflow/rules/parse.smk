rule parse:
    """Dependency-parse every text with spaCy (parser only), for syntax masks."""
    input:
        split="results/data/{task}/{split}.parquet",
        code=code_of("parse.py"),
    output:
        "results/parses/{task}/{split}.parquet",
    log:
        "results/logs/parse/{task}_{split}.log",
    benchmark:
        "results/benchmarks/parse/{task}_{split}.tsv"
    conda:
        f"{ENVS}/parse.yaml"
    resources:
        # BBC news' train split (2.4 MB) peaked at 2,831 MB (the kernel's peak; docs/BENCHMARKS.md)
        mem_mb=memory_mb(3500, per_input_mb=20),
        # IMDB's train split (8 MiB) took 70 min on one core, BBC news' (2.3) 12: up to 9 a MiB
        runtime=runtime_minutes(10, per_input_mb=15),
    params:
        parser=canonical(config["parser"]),
    script:
        "../scripts/parse.py"
