import json

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.tracking import init_tracking

tracking = snakemake.params.tracking
info = init_tracking(tracking["uri"], tracking["experiment"], tracking["artifact_location"], tracking["log_every_steps"])
with open(snakemake.output[0], "w") as handle:
    json.dump(info, handle, indent=2)
