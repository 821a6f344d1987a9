import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from breaking_bert.findings import all_verdicts, learned_degree_placement, render_report, retained_mass_section

summary = pd.read_csv(snakemake.input.summary, keep_default_na=False, na_values=[""])
learned = pd.read_csv(snakemake.input.learned) if "learned" in snakemake.input.keys() else None
thresholds = snakemake.params.thresholds
verdicts = all_verdicts(summary, learned, thresholds["negligible_drop"], thresholds["high_sparsity"])
sections = [learned_degree_placement(learned)] if learned is not None else []
if "retained" in snakemake.input.keys():
    retained = pd.read_csv(snakemake.input.retained)
    cost = pd.read_csv(snakemake.input.cost)
    sections.append(retained_mass_section(summary, retained, cost))
with open(snakemake.output[0], "w") as handle:
    handle.write(render_report(verdicts, summary, sections))
