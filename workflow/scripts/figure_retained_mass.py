from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.cost import plot_retained_mass

plot_retained_mass(pd.read_csv(snakemake.input.retained), snakemake.output[0])
