"""Write the seeds design down (rule `design`): its config and the seed count at each look."""

import json

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

with open(snakemake.output[0], "w") as handle:
    json.dump({"seeds": snakemake.params.seeds, "looks": snakemake.params.looks}, handle, indent=2)
