rule learn_degrees:
    """Experiment 3: finetune while learning each layer and head's neighbour window under a
    density penalty (or a target sparsity); evaluated with the hardened integer windows.
    """
    input:
        unpack(get_learned_inputs),
    output:
        **get_model_output(LEARNED_DIR),
        metrics=f"{LEARNED_DIR}/metrics.json",
        config=f"{LEARNED_DIR}/config.json",
    log:
        f"{LEARNED_DIR}/train.log",
    benchmark:
        f"{LEARNED_DIR}/benchmark.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    # one thread per job, as many jobs as cores: on CPU two 1-thread jobs train 1.24x the
    # samples/s of one 2-thread job (docs/BENCHMARKS.md); GPU profiles set more
    threads: 1
    resources:
        gpu=1,
        mem_mb=training_memory(learned=True),
        runtime=training_runtime(learned=True),
    params:
        model=canonical(config["model"]),
        training=get_training_params(),
        task=get_task_params,
        learned=get_learned_params(),
        checkpoint_dir=lambda w: f"{learned_dir(w.task, w.variant, w.setting, w.seed)}/checkpoints",
    script:
        "../scripts/learned.py"


rule aggregate_learned:
    """One row per learned run, one per run x layer x head x position class for the hardened
    windows, and a summary per task x variant x setting (mean, spread)."""
    input:
        metrics=get_learned_metrics_files,
        design=DESIGN_FILE,
        code=code_of("aggregate_learned.py"),
    output:
        runs=summary_path("tables/learned_runs.csv"),
        windows=summary_path("tables/learned_windows.csv"),
        summary=summary_path("tables/learned_summary.csv"),
        summary_md=summary_path("tables/learned_summary.md"),
        summary_html=report(
            summary_path("tables/learned_summary.html"),
            caption="../report/learned_summary.rst",
            category="Tables",
        ),
    log:
        summary_path("logs/aggregate_learned.log"),
    benchmark:
        summary_path("benchmarks/aggregate_learned.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    script:
        "../scripts/aggregate_learned.py"


rule figure_learned_degrees:
    """The hardened window of every layer and head, per variant and setting (mean over seeds)."""
    input:
        windows=summary_path("tables/learned_windows.csv"),
        code=code_of("figure_learned_degrees.py"),
    output:
        report(
            summary_path("figures/learned_degrees_{task}.png"),
            caption="../report/learned_degrees.rst",
            category="Experiment 3: learned sparsity",
            labels={"task": "{task}"},
        ),
        vector=summary_path("figures/learned_degrees_{task}.pdf"),
    log:
        summary_path("logs/figures/learned_degrees_{task}.log"),
    benchmark:
        summary_path("benchmarks/figures/learned_degrees_{task}.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2),
    script:
        "../scripts/figure_learned_degrees.py"
