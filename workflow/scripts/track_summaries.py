import json
from pathlib import Path

from breaking_bert.joblog import log_to

log_to(snakemake.log[0])

from breaking_bert.tracking import job_tracking, log_workflow_artifacts

summaries = Path(snakemake.output[0]).parents[1]  # results/<results name>/mlflow/workflow_run.json
# each file in the artifact folder of its place in the summaries (tables/, figures/, or the top: "")
files = {path: Path(path).parent.relative_to(summaries).as_posix().removeprefix(".") for path in snakemake.input.summaries}
tracking = job_tracking(snakemake.input.tracking, snakemake.config["tracking"], snakemake.config["results_name"])
tracking["experiment_name"] = snakemake.params.experiment  # the same name (params.smk), as the rule records it
opened = log_workflow_artifacts(tracking, files)  # a failure fails this job: rerun it to log them
record = {key: opened[key] for key in ("uri", "experiment_name", "experiment_id", "parent_run_id")}
record["artifacts"] = sorted(f"{folder}/{Path(path).name}".lstrip("/") for path, folder in files.items())
Path(snakemake.output[0]).write_text(json.dumps(record, indent=2) + "\n")
print(f"MLflow: {len(files)} summaries logged on workflow run {opened['parent_run_id']}")
