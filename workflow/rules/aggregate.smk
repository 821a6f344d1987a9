rule aggregate:
    """One tidy table of all runs, per-cell summaries (mean, spread, delta vs dense), sparsity, and
    how much of each cell's spread over seeds is eval sampling."""
    input:
        metrics=get_metrics_files,
        mask_summaries=get_mask_summaries,
        design=DESIGN_FILE,
        code=code_of("aggregate.py"),
    output:
        runs="results/tables/runs.csv",
        eval_sampling="results/tables/eval_sampling.csv",
        eval_sampling_md="results/tables/eval_sampling.md",
        eval_sampling_html=report(
            "results/tables/eval_sampling.html",
            caption="../report/eval_sampling.rst",
            category="Tables",
        ),
        summary="results/tables/summary.csv",
        summary_md="results/tables/summary.md",
        summary_html=report(
            "results/tables/summary.html",
            caption="../report/summary.rst",
            category="Tables",
        ),
        sparsity="results/tables/sparsity.csv",
        sparsity_md="results/tables/sparsity.md",
        sparsity_html=report(
            "results/tables/sparsity.html",
            caption="../report/sparsity.rst",
            category="Tables",
        ),
    log:
        "results/logs/aggregate.log",
    benchmark:
        "results/benchmarks/aggregate.tsv"
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    script:
        "../scripts/aggregate.py"
