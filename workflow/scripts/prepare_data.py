import sys

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.data import prepare_task, write_task

task = snakemake.wildcards.task
train, evaluation, labels = prepare_task(snakemake.params.task, name=task)
output = snakemake.output
summary = write_task(train, evaluation, labels, output.train, output.eval, output.labels, output.summary)
print(f"{task}: {summary}", file=sys.stderr)
