from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.report.figures import plot_learned_degrees

plot_learned_degrees(pd.read_csv(snakemake.input.windows), snakemake.wildcards.task, snakemake.output[0])
