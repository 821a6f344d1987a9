rule figure_score_by_pattern_and_placement:
    """Score by pattern and placement per task, dense baseline as a band."""
    input:
        summary=summary_path("tables/summary.csv"),
        code=code_of("figures.py"),
    output:
        report(
            summary_path("figures/score_by_pattern_and_placement.png"),
            caption="../report/score_by_pattern_and_placement.rst",
            category="Experiment 1: pattern ablation",
        ),
        vector=summary_path("figures/score_by_pattern_and_placement.pdf"),
    log:
        summary_path("logs/figures/score_by_pattern_and_placement.log"),
    benchmark:
        summary_path("benchmarks/figures/score_by_pattern_and_placement.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/figures.py"


rule figure_mask_gallery:
    """Each pattern's mask drawn on the same real sentence of a task."""
    input:
        tokens="results/tokens/{task}/eval.parquet",
        masks=get_gallery_masks,
        code=code_of("figure_mask_gallery.py"),
    output:
        report(
            summary_path("figures/masks_{task}.png"),
            caption="../report/mask_gallery.rst",
            category="Masks",
            labels={"task": "{task}"},
        ),
        vector=summary_path("figures/masks_{task}.pdf"),
    log:
        summary_path("logs/figures/masks_{task}.log"),
    benchmark:
        summary_path("benchmarks/figures/masks_{task}.tsv")
    conda:
        f"{ENVS}/torch.yaml"
    resources:
        # the figure grows with the square of the length: BBC news at 256 wordpieces (7 panels of a
        # 5,931-pixel figure) peaked at 3,469 MiB against the 957 it declared (the rehearsal)
        mem_mb=lambda wildcards: 1000 + config["model"]["max_length"] ** 2 // 16,
    params:
        model=canonical(config["model"]),
        patterns=get_gallery_patterns,
    script:
        "../scripts/figure_mask_gallery.py"


rule figure_layer_sweep:
    """Score change vs dense when one layer, or layers i..top, are masked (experiment 1)."""
    input:
        summary=summary_path("tables/summary.csv"),
        code=code_of("figure_layer_sweep.py"),
    output:
        report(
            summary_path("figures/layer_sweep.png"),
            caption="../report/layer_sweep.rst",
            category="Experiment 1: pattern ablation",
        ),
        vector=summary_path("figures/layer_sweep.pdf"),
    log:
        summary_path("logs/figures/layer_sweep.log"),
    benchmark:
        summary_path("benchmarks/figures/layer_sweep.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/figure_layer_sweep.py"


rule figure_score_vs_sparsity:
    """Score against achieved sparsity: BigBird grid, fixed patterns and the learned frontier."""
    input:
        unpack(get_score_vs_sparsity_inputs),
    output:
        report(
            summary_path("figures/score_vs_sparsity.png"),
            caption="../report/score_vs_sparsity.rst",
            category="Experiment 2 and 3: sparsity trade-off",
        ),
        vector=summary_path("figures/score_vs_sparsity.pdf"),
    log:
        summary_path("logs/figures/score_vs_sparsity.log"),
    benchmark:
        summary_path("benchmarks/figures/score_vs_sparsity.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/figure_score_vs_sparsity.py"
