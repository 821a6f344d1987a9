rule masks:
    """Build a pattern's bit-packed masks for both splits and record their achieved sparsity."""
    input:
        unpack(get_mask_inputs),
    output:
        train=f"{MASK_DIR}/train.npz",
        eval=f"{MASK_DIR}/eval.npz",
        summary=f"{MASK_DIR}/summary.json",
    log:
        "results/logs/masks/{task}_{pattern}_{draw}.log",
    benchmark:
        "results/benchmarks/masks/{task}_{pattern}_{draw}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=20, model_copies=lexical_model_copies),
        # syntax masks took 33 min for IMDB's 18 MiB of tokens and parses, 26 for BBC news' 3.4 (its
        # long articles have more sentences to solve): up to 8 min a MiB (docs/BENCHMARKS.md)
        runtime=runtime_minutes(15, per_input_mb=10),
    params:
        pattern=lambda wildcards: canonical(config["patterns"][wildcards.pattern]),
        options=canonical(config["masks"]),
        # only lexical masks read the model (its input embeddings)
        model=lambda wildcards: (
            canonical(config["model"])
            if "embeddings" in pattern_needs(wildcards.pattern)
            else None
        ),
    script:
        "../scripts/masks.py"
