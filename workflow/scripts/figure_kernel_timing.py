import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from breaking_bert.figures import plot_kernel_timing

plot_kernel_timing(pd.read_csv(snakemake.input.timing), snakemake.output[0])
