import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.aggregate import load_runs, sparsity_table, summarize, to_markdown

runs = load_runs(snakemake.input.metrics)
runs.to_csv(snakemake.output.runs, index=False)
summary = summarize(runs)
summary.to_csv(snakemake.output.summary, index=False)
with open(snakemake.output.summary_md, "w") as handle:
    handle.write(to_markdown(summary))
sparsity = sparsity_table(snakemake.input.mask_summaries)
sparsity.to_csv(snakemake.output.sparsity, index=False)
with open(snakemake.output.sparsity_md, "w") as handle:
    handle.write(to_markdown(sparsity))
