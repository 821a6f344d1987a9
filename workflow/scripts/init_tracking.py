import json

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.tracking import init_store, job_tracking, resolved, workflow_artifact_location

settings = snakemake.params.tracking
store = init_store(settings["uri"], workflow_artifact_location(settings["uri"], settings.get("artifact_location")))
with open(snakemake.output[0], "w") as handle:
    json.dump(store, handle, indent=2)
# this config's experiment and workflow run, opened before its jobs (a later config's first job opens its own)
opened = resolved(job_tracking(snakemake.output[0], snakemake.config["tracking"], snakemake.config["results_name"]))
print(f"MLflow: experiment {opened['experiment_name']!r}, workflow run {opened['parent_run_id']}")
