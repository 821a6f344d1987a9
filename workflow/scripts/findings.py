from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from pathlib import Path

import pandas as pd

from breaking_bert.aggregate import read_runs_table
from breaking_bert.stats.eval_sampling import attach_eval_values, collapsed_runs, eval_sampling_section
from breaking_bert.report_html import html_page
from breaking_bert.findings import design_verdicts, learned_degree_placement, render_report, retained_mass_section

# each run's per-example values beside its score: the intervals cover the eval set's sampling too
runs = attach_eval_values(read_runs_table(snakemake.input.runs), snakemake.input.metrics)
summary = read_runs_table(snakemake.input.summary)
learned_runs = None
if "learned_runs" in snakemake.input.keys():
    learned_runs = attach_eval_values(pd.read_csv(snakemake.input.learned_runs), snakemake.input.learned_metrics)
# of a sequential design, each cell as judged at the look that decided it
verdicts = design_verdicts(snakemake.params.seeds, runs, learned_runs, snakemake.params.thresholds)
sections = [learned_degree_placement(pd.read_csv(snakemake.input.learned_summary))] if learned_runs is not None else []
if "retained" in snakemake.input.keys():
    retained = pd.read_csv(snakemake.input.retained)
    cost = pd.read_csv(snakemake.input.cost)
    sections.append(retained_mass_section(summary, retained, cost))
sections.append(eval_sampling_section(pd.read_csv(snakemake.input.eval_sampling)))
report = render_report(verdicts, summary, sections, snakemake.params.seeds, warnings=collapsed_runs(runs, learned_runs))
Path(snakemake.output.markdown).write_text(report)
Path(snakemake.output.html).write_text(html_page(report, "Findings"))
if "tracking" in snakemake.input.keys():  # the report and its tables on the workflow's MLflow run
    import json

    from breaking_bert.tracking import log_workflow_artifacts

    tracking = json.loads(Path(snakemake.input.tracking).read_text())
    log_workflow_artifacts(tracking, [snakemake.output.markdown, snakemake.output.html])
    log_workflow_artifacts(tracking, [snakemake.input.summary, snakemake.input.runs, snakemake.input.eval_sampling], "tables")
