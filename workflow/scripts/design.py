"""Write the seeds design down (rule `design`): its config and the seed count at each look."""

import json

with open(snakemake.output[0], "w") as handle:
    json.dump({"seeds": snakemake.params.seeds, "looks": list(snakemake.params.looks)}, handle, indent=2)
