rule findings:
    """The findings report: for each of the paper's four findings, does this run support it?"""
    input:
        unpack(get_findings_inputs),
    output:
        markdown=summary_path("findings.md"),
        html=report(
            summary_path("findings.html"),
            caption="../report/findings.rst",
            category="Findings",
        ),
    log:
        summary_path("logs/findings.log"),
    benchmark:
        summary_path("benchmarks/findings.tsv")
    conda:
        f"{ENVS}/report.yaml"
    resources:
        mem_mb=memory_mb(1000, per_input_mb=2, per_input_file=1),
    params:
        thresholds=canonical(config["findings"]),
        seeds=canonical(config["seeds"]),
    script:
        "../scripts/findings.py"
