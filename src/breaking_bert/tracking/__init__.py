"""MLflow tracking: one store, migrated once; an experiment and a workflow run per config; one
MLflow run per job attempt, nested under its config's workflow run, dated from the job's start
(written to the store from its first logged step) and closed when it ends.

Why the store is initialised by its own job: a fresh sqlite store migrates its schema on first
use, and eight jobs migrating it at once break it; ``set_experiment`` racing in eight jobs can file
runs under "Default". So ``init_tracking`` runs once before the jobs fan out, and every job logs
with ``create_run(experiment_id)``.

Why a config's experiment and workflow run are not a job's input: configs in one folder share
their finetune runs (layout.py), and an input that named the config would retrain every shared run
when another config runs. So each job reads its config's experiment from the running config and
opens it, with its workflow run, under a file lock next to the store's file (workflow_run.py);
the init job opens them first for the config it runs with. The config's summaries (findings,
tables, figures) go on its workflow run at the end (the track_summaries job).

What can stop a run and what cannot (docs/USAGE.md, "Tracking"): a store that cannot be opened stops the
workflow before any job (``preflight``) or in the init job, within seconds, naming
``tracking.uri`` and the path. Once jobs run, tracking never fails a training job: ``metrics.json``
is the result. When logging fails mid-job (a server going down), the job finishes, its MLflow run
is left unfinished, and ``tracking_pending.json`` in its run directory lets
``breaking-bert-sync-tracking results/`` log it afterwards.

What a run holds: every resolved config value as a param; the metrics (step metrics every
``log_every_steps`` optimizer steps, eval metrics per epoch, the final measurements) with their
wall-clock timestamps and step numbers; its train and eval token files as dataset inputs
(``log_inputs``, by content digest); tags for the cell (``run_key``), the run's fingerprint and
the code version (git commit, dirty flag); the run directory's files as artifacts. The artifact
root is an absolute file URI, as MLflow makes it, so any client finds the artifacts.
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "store": ("SQLITE_ARTIFACTS", "TrackingError", "artifact_root", "check_store", "init_store", "sqlite_path",
              "workflow_artifact_location"),
    "workflow_run": (
        "EXPERIMENT_PREFIX", "LOG_EVERY_STEPS", "PROJECT_TAG", "RESULTS_TAG", "WORKFLOW_TAG", "experiment_name", "init_tracking",
        "job_tracking", "log_workflow_artifacts", "open_workflow_run", "resolved",
    ),
    "runs": (
        "PENDING", "TrackedRun", "code_version", "epoch_metrics", "log_run", "log_run_or_leave_pending", "main",
        "split_results", "sync_pending",
    ),
})
