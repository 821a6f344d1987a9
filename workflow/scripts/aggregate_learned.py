from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.aggregate import load_learned_runs, load_learned_windows, summarize_learned, write_table

runs = load_learned_runs(snakemake.input.metrics)
windows = load_learned_windows(snakemake.input.metrics)
write_table(runs, snakemake.output.runs)
write_table(windows, snakemake.output.windows)
write_table(summarize_learned(runs, windows), snakemake.output.summary, snakemake.output.summary_md,
            snakemake.output.summary_html, "Learned-sparsity runs")
