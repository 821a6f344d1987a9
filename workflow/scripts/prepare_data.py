import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.prepare_data import prepare_task, write_task

train, evaluation, labels = prepare_task(snakemake.params.task)
print(f"{snakemake.wildcards.task}: {len(train)} train, {len(evaluation)} eval, labels {labels}", file=sys.stderr)
write_task(train, evaluation, labels, snakemake.output.train, snakemake.output.eval, snakemake.output.labels)
