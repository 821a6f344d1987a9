rule figure_score_by_pattern_and_placement:
    """Score by pattern and placement per task, dense baseline as a band."""
    input:
        summary="results/tables/summary.csv",
        code=library("figures"),
    output:
        report(
            "results/figures/score_by_pattern_and_placement.png",
            caption="../report/score_by_pattern_and_placement.rst",
            category="Experiment 1: pattern ablation",
        ),
    log:
        "results/logs/figures/score_by_pattern_and_placement.log",
    conda:
        f"{ENVS}/report.yaml"
    script:
        "../scripts/figures.py"
