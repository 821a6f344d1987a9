import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.aggregate import load_learned_runs, summarize_learned, write_table

runs = load_learned_runs(snakemake.input.metrics)
write_table(runs, snakemake.output.runs)
write_table(summarize_learned(runs), snakemake.output.summary, snakemake.output.summary_md)
