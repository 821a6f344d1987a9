from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from pathlib import Path

from breaking_bert.findings.evidence import PREDICTED_TABLES, TABLES, cut_short_banner, findings_report
from breaking_bert.report.html import html_page
from breaking_bert.stats.eval_sampling import read_predictions

tables = {key: getattr(snakemake.input, key) for key in TABLES if key in snakemake.input.keys()}
metrics = {"runs": snakemake.input.metrics, "learned_runs": snakemake.input.get("learned_metrics", [])}
predictions = {table: read_predictions(metrics[table], kind) for table, kind in PREDICTED_TABLES.items()}
report = cut_short_banner([*metrics["runs"], *metrics["learned_runs"]]) + findings_report(
    tables, predictions, snakemake.params.seeds, snakemake.params.thresholds
)
Path(snakemake.output.markdown).write_text(report)
Path(snakemake.output.html).write_text(html_page(report, "Findings"))
