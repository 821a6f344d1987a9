from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import json

from breaking_bert.aggregate import load_learned_runs, load_runs, read_runs_table, write_table
from breaking_bert.stats.eval_sampling import attach_eval_values
from breaking_bert.findings.report import judge_with
from breaking_bert.stats.sequential import Design, look_decisions

# the runs so far as the findings rule reads them (written, then read back)
write_table(load_runs(snakemake.input.metrics), snakemake.output.runs)
runs = attach_eval_values(read_runs_table(snakemake.output.runs), snakemake.input.metrics)
learned_runs = None
if snakemake.input.learned_metrics:
    write_table(load_learned_runs(snakemake.input.learned_metrics), snakemake.output.learned_runs)
    learned_runs = attach_eval_values(read_runs_table(snakemake.output.learned_runs), snakemake.input.learned_metrics)
else:
    open(snakemake.output.learned_runs, "w").close()
decisions = look_decisions(Design.from_config(snakemake.params.seeds), int(snakemake.wildcards.look), runs,
                           learned_runs, judge_with(snakemake.params.thresholds))
with open(snakemake.output.decisions, "w") as handle:
    json.dump(decisions, handle, indent=1)
print(json.dumps(decisions["continuing"]))
