from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

import pandas as pd

from breaking_bert.report.figures import plot_score_by_pattern_and_placement

plot_score_by_pattern_and_placement(pd.read_csv(snakemake.input.summary), snakemake.output[0])
