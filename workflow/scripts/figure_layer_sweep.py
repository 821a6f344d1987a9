import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

import pandas as pd

from breaking_bert.figures import plot_layer_sweep

plot_layer_sweep(pd.read_csv(snakemake.input.summary), snakemake.output[0])
