localrules:
    look,


checkpoint look:
    """A look of the sequential design (config `seeds: {initial, max, step}`): judge every cell
    that a finding uses on the runs so far, and name the run groups that undecided cells read, which
    the next look gives `step` more seeds (runs_through). A small local job, also under SLURM.
    """
    input:
        metrics=lambda w: get_metrics_files(w, look=int(w.look)),
        learned_metrics=lambda w: get_learned_metrics_files(w, look=int(w.look)),
        looks=lambda w: looks_before(int(w.look)),
        code=code_of("look.py"),
    output:
        decisions="results/looks/look{look}.json",
        runs="results/looks/look{look}_runs.csv",
        learned_runs="results/looks/look{look}_learned_runs.csv",
    log:
        "results/logs/look{look}.log",
    benchmark:
        "results/benchmarks/look{look}.tsv"
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
