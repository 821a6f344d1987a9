rule aggregate:
    """One tidy table of all runs, per-cell summaries (mean, spread, delta vs dense) and sparsity."""
    input:
        metrics=get_metrics_files(),
        mask_summaries=get_mask_summaries(),
        code=library("aggregate", "vocabulary"),
    output:
        runs="results/tables/runs.csv",
        summary="results/tables/summary.csv",
        summary_md="results/tables/summary.md",
        sparsity="results/tables/sparsity.csv",
        sparsity_md="results/tables/sparsity.md",
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        f"{ENVS}/report.yaml"
    script:
        "../scripts/aggregate.py"
