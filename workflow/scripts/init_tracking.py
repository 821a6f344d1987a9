import json
import sys

sys.stderr = open(snakemake.log[0], "w", buffering=1)

from breaking_bert.tracking import init_tracking

tracking = snakemake.params.tracking
info = init_tracking(tracking["uri"], tracking["experiment"], tracking["artifact_location"])
with open(snakemake.output[0], "w") as handle:
    json.dump(info, handle, indent=2)
