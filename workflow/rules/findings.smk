rule findings:
    """The findings report: for each of the paper's four findings, does this run support it?"""
    input:
        unpack(get_findings_inputs),
    output:
        markdown="results/findings.md",
        html=report(
            "results/findings.html",
            caption="../report/findings.rst",
            category="Findings",
        ),
    log:
        "results/logs/findings.log",
    benchmark:
        "results/benchmarks/findings.tsv"
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    params:
        thresholds=canonical(config["findings"]),
        seeds=canonical(config["seeds"]),
    script:
        "../scripts/findings.py"
