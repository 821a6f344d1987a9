import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.aggregate import load_costs, load_retained_mass

load_costs(snakemake.input.costs).to_csv(snakemake.output.cost, index=False)
load_retained_mass(snakemake.input.retained).to_csv(snakemake.output.retained, index=False)
