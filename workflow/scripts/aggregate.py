from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.aggregate import load_runs, sparsity_table, summarize, write_table
from breaking_bert.stats.eval_sampling import eval_sampling_table

runs = load_runs(snakemake.input.metrics)
write_table(runs, snakemake.output.runs)
output = snakemake.output
write_table(summarize(runs), output.summary, output.summary_md, output.summary_html, "Score per cell")
write_table(sparsity_table(snakemake.input.mask_summaries), output.sparsity, output.sparsity_md, output.sparsity_html,
            "Achieved sparsity per pattern and split")
write_table(eval_sampling_table(snakemake.input.metrics), output.eval_sampling, output.eval_sampling_md,
            output.eval_sampling_html, "What the eval set's sampling adds")
