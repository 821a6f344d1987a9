localrules:
    look,
    design,


checkpoint look:
    """A look of the sequential design (config `seeds: {initial, max, step}`): judge every cell
    that a finding uses on the runs so far, and name the run groups that undecided cells read, which
    the next look gives `step` more seeds (runs_through). A small local job, also under SLURM.
    """
    input:
        metrics=lambda w: get_metrics_files(w, look=int(w.look)),
        learned_metrics=lambda w: get_learned_metrics_files(w, look=int(w.look)),
        design=DESIGN_FILE,
        code=code_of("look.py"),
    output:
        decisions=summary_path("looks/look{look}.json"),
        runs=summary_path("looks/look{look}_runs.csv"),
        learned_runs=summary_path("looks/look{look}_learned_runs.csv"),
    log:
        summary_path("logs/look{look}.log"),
    benchmark:
        summary_path("benchmarks/look{look}.tsv")
    wildcard_constraints:
        look=r"\d+",
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    params:
        seeds=canonical(config["seeds"]),
        thresholds=canonical(config["findings"]),
    script:
        "../scripts/look.py"


rule design:
    """The seeds design (config `seeds`) written down, an input of the looks, the aggregations and
    the findings, so that changing the design reruns them even before any look exists
    (workflow/rules/common/design.smk says why a checkpoint alone does not)."""
    input:
        code=code_of("design.py"),
    output:
        DESIGN_FILE,
    log:
        summary_path("logs/design.log"),
    benchmark:
        summary_path("benchmarks/design.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(500),
    params:
        seeds=canonical(config["seeds"]),
        looks=list(DESIGN.looks),
    script:
        "../scripts/design.py"
