import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.aggregate import load_learned_runs, summarize_learned, to_markdown

runs = load_learned_runs(snakemake.input.metrics)
runs.to_csv(snakemake.output.runs, index=False)
summary = summarize_learned(runs)
summary.to_csv(snakemake.output.summary, index=False)
with open(snakemake.output.summary_md, "w") as handle:
    handle.write(to_markdown(summary))
