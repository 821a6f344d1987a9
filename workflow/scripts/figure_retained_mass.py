import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from breaking_bert.figures import plot_retained_mass

plot_retained_mass(pd.read_csv(snakemake.input.retained), snakemake.output[0])
