from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.aggregate import load_runs, sparsity_table, summarize, write_table
from breaking_bert.eval_sampling import eval_sampling_table

runs = load_runs(snakemake.input.metrics)
write_table(runs, snakemake.output.runs)
write_table(summarize(runs), snakemake.output.summary, snakemake.output.summary_md)
write_table(sparsity_table(snakemake.input.mask_summaries), snakemake.output.sparsity, snakemake.output.sparsity_md)
write_table(eval_sampling_table(snakemake.input.metrics), snakemake.output.eval_sampling, snakemake.output.eval_sampling_md)
