rule finetune:
    """Finetune and evaluate one task x pattern x placement x seed; one GPU per job."""
    input:
        unpack(get_finetune_inputs),
    output:
        **get_model_output(RUN_DIR),
        metrics=f"{RUN_DIR}/metrics.json",
        config=f"{RUN_DIR}/config.json",
    log:
        f"{RUN_DIR}/train.log",
    benchmark:
        f"{RUN_DIR}/benchmark.tsv"
    conda:
        f"{ENVS}/torch.yaml"
    # one thread per job, as many jobs as cores: on CPU two 1-thread jobs train 1.24x the
    # samples/s of one 2-thread job (docs/BENCHMARKS.md); GPU profiles set more
    threads: 1
    resources:
        gpu=1,
        mem_mb=training_memory(),
        runtime=training_runtime(),
    params:
        model=canonical(config["model"]),
        training=get_training_params(),
        task=get_task_params,
        pattern=lambda wildcards: canonical(config["patterns"][wildcards.pattern]),
        checkpoint_dir=lambda w: f"{run_dir(w.task, w.pattern, w.placement, w.seed)}/checkpoints",
    script:
        "../scripts/finetune.py"
