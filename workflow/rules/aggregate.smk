rule aggregate:
    """One tidy table of all runs, per-cell summaries (mean, spread, delta vs dense), sparsity, and
    how much of each cell's spread over seeds is eval sampling."""
    input:
        metrics=get_metrics_files,
        mask_summaries=get_mask_summaries,
        design=DESIGN_FILE,
        code=code_of("aggregate.py"),
    output:
        runs=summary_path("tables/runs.csv"),
        eval_sampling=summary_path("tables/eval_sampling.csv"),
        eval_sampling_md=summary_path("tables/eval_sampling.md"),
        eval_sampling_html=report(
            summary_path("tables/eval_sampling.html"),
            caption="../report/eval_sampling.rst",
            category="Tables",
        ),
        summary=summary_path("tables/summary.csv"),
        summary_md=summary_path("tables/summary.md"),
        summary_html=report(
            summary_path("tables/summary.html"),
            caption="../report/summary.rst",
            category="Tables",
        ),
        sparsity=summary_path("tables/sparsity.csv"),
        sparsity_md=summary_path("tables/sparsity.md"),
        sparsity_html=report(
            summary_path("tables/sparsity.html"),
            caption="../report/sparsity.rst",
            category="Tables",
        ),
    log:
        summary_path("logs/aggregate.log"),
    benchmark:
        summary_path("benchmarks/aggregate.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    script:
        "../scripts/aggregate.py"
