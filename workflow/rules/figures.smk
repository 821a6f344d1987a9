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


rule figure_mask_gallery:
    """Each pattern's mask drawn on the same real sentence of a task."""
    input:
        tokens="results/tokens/{task}/eval.parquet",
        masks=get_gallery_masks,
        code=library("figures"),
    output:
        report(
            "results/figures/masks_{task}.png",
            caption="../report/mask_gallery.rst",
            category="Masks",
            labels={"task": "{task}"},
        ),
    log:
        "results/logs/figures/masks_{task}.log",
    conda:
        f"{ENVS}/torch.yaml"
    params:
        model=config["model"],
        patterns=get_gallery_patterns,
    script:
        "../scripts/figure_mask_gallery.py"
