from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.cost import plot_kernel_timing

plot_kernel_timing(pd.read_csv(snakemake.input.timing), snakemake.output[0])
