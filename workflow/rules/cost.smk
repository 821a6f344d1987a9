rule cost:
    """What one pattern costs (FLOPs, score memory, non-empty kernel blocks) and what it keeps of
    the pretrained model's dense attention, per layer and head, on a task's eval split.
    """
    input:
        tokens="results/tokens/{task}/eval.parquet",
        masks=lambda w: f"{mask_dir(w.task, w.pattern, first_seed())}/eval.npz",
        code=code_of("cost.py"),
    output:
        cost="results/cost/{task}/{pattern}/cost.json",
        retained="results/cost/{task}/{pattern}/retained_mass.csv",
    log:
        "results/logs/cost/{task}/{pattern}.log",
    benchmark:
        "results/benchmarks/cost/{task}/{pattern}.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    threads: 2
    resources:
        # the model (its weights twice: loaded, and a model larger than MiniLM adds that) on
        # cost.retained_examples examples: IMDB with MiniLM at 256 wordpieces sampled 1,458 MiB; the
        # base leaves the 300 MiB a SLURM job's own Snakemake processes add (docs/BENCHMARKS.md)
        mem_mb=memory_mb(1900, per_input_mb=10, model_copies=2),
        runtime=runtime_minutes(15, per_input_mb=1),  # 15-25 s for IMDB's masks
    params:
        model=canonical(config["model"]),
        settings=only(config["cost"], COST_KEYS),
    script:
        "../scripts/cost.py"


rule kernel_timing:
    """Block-sparse kernels (FlexAttention; the band kernel for neighbour) against dense SDPA at
    synthetic sequence lengths, per pattern."""
    input:
        # its synthetic masks come from the mask builders, its block masks from attention
        code=code_of("kernel_timing.py"),
    output:
        summary_path("cost/kernel_timing.csv"),
    log:
        summary_path("logs/cost/kernel_timing.log"),
    benchmark:
        summary_path("benchmarks/cost/kernel_timing.tsv")
    conda:
        f"{ENVS}/torch.yaml"
    threads: 2
    resources:
        # 1,653 MiB on CPU in the rehearsal (near its 1,908); on a GPU the CUDA libraries and
        # torch.compile's workers come on top, unmeasured: 4,000
        mem_mb=memory_mb(4000),
        gpu=1,
        runtime=kernel_timing_runtime,
    params:
        settings=only(config["cost"], KERNEL_TIMING_KEYS),
    script:
        "../scripts/kernel_timing.py"


rule aggregate_cost:
    """One table of every pattern's cost and one of its retained attention mass per layer."""
    input:
        costs=get_cost_files("cost.json"),
        retained=get_cost_files("retained_mass.csv"),
        code=code_of("aggregate_cost.py"),
    output:
        cost=summary_path("tables/cost.csv"),
        cost_html=report(
            summary_path("tables/cost.html"),
            caption="../report/cost.rst",
            category="Tables",
        ),
        retained=summary_path("tables/retained_mass.csv"),
    log:
        summary_path("logs/aggregate_cost.log"),
    benchmark:
        summary_path("benchmarks/aggregate_cost.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/aggregate_cost.py"


rule figure_retained_mass:
    """Retained dense attention mass per layer, per pattern."""
    input:
        retained=summary_path("tables/retained_mass.csv"),
        code=code_of("figure_retained_mass.py"),
    output:
        report(
            summary_path("figures/retained_mass.png"),
            caption="../report/retained_mass.rst",
            category="Cost and retained attention",
        ),
        vector=summary_path("figures/retained_mass.pdf"),
    log:
        summary_path("logs/figures/retained_mass.log"),
    benchmark:
        summary_path("benchmarks/figures/retained_mass.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/figure_retained_mass.py"


rule figure_kernel_timing:
    """Attention time against sequence length, dense SDPA vs block-sparse per pattern."""
    input:
        timing=summary_path("cost/kernel_timing.csv"),
        code=code_of("figure_kernel_timing.py"),
    output:
        report(
            summary_path("figures/kernel_timing.png"),
            caption="../report/kernel_timing.rst",
            category="Cost and retained attention",
        ),
        vector=summary_path("figures/kernel_timing.pdf"),
    log:
        summary_path("logs/figures/kernel_timing.log"),
    benchmark:
        summary_path("benchmarks/figures/kernel_timing.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000),
    script:
        "../scripts/figure_kernel_timing.py"
