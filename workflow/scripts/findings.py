from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.eval_sampling import eval_sampling_section
from breaking_bert.findings import all_verdicts, learned_degree_placement, render_report, retained_mass_section

runs = pd.read_csv(snakemake.input.runs, keep_default_na=False, na_values=[""])
summary = pd.read_csv(snakemake.input.summary, keep_default_na=False, na_values=[""])
learned_runs = pd.read_csv(snakemake.input.learned_runs) if "learned_runs" in snakemake.input.keys() else None
thresholds = snakemake.params.thresholds
verdicts = all_verdicts(runs, learned_runs, thresholds["negligible_drop"], thresholds["high_sparsity"],
                        thresholds["sparsity_tolerance"])
sections = [learned_degree_placement(pd.read_csv(snakemake.input.learned_summary))] if learned_runs is not None else []
if "retained" in snakemake.input.keys():
    retained = pd.read_csv(snakemake.input.retained)
    cost = pd.read_csv(snakemake.input.cost)
    sections.append(retained_mass_section(summary, retained, cost))
sections.append(eval_sampling_section(pd.read_csv(snakemake.input.eval_sampling)))
with open(snakemake.output[0], "w") as handle:
    handle.write(render_report(verdicts, summary, sections))
