from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.report.figures import plot_score_vs_sparsity

learned = pd.read_csv(snakemake.input.learned) if "learned" in snakemake.input.keys() else None
plot_score_vs_sparsity(pd.read_csv(snakemake.input.summary), snakemake.output[0], learned)
