"""MLflow tracking: one store and one experiment, created once; one MLflow run per job attempt,
dated from the job's start (written to the store from its first logged step) and closed when it
ends.

Why the store is initialised by its own job: a fresh sqlite store migrates its schema on first
use, and eight jobs migrating it at once break it; ``set_experiment`` racing in eight jobs can file
runs under "Default". So ``init_tracking`` runs once before the jobs fan out and writes the
experiment id to a file; every job logs with ``create_run(experiment_id)``.

What can stop a run and what cannot (README, "Tracking"): a store that cannot be opened stops the
workflow before any job (``preflight``) or in the init job, within seconds, naming
``tracking.uri`` and the path. Once jobs run, tracking never fails one: ``metrics.json`` is the
result. When logging fails mid-job (a server going down), the job finishes, its MLflow run is
left unfinished, and ``tracking_pending.json`` in its run directory lets
``breaking-bert-sync-tracking results/`` log it afterwards.

Every job's run nests under one run of the workflow's (``mlflow.parentRunId``), which the init job
creates once per store and experiment and finds again when it reruns.

What a run holds: every resolved config value as a param; the metrics (step metrics every
``log_every_steps`` optimizer steps, eval metrics per epoch, the final measurements) with their
wall-clock timestamps and step numbers; tags for the cell (``run_key``), the run's fingerprint and
the code version (git commit, dirty flag); the run directory's files as artifacts. In a sqlite
store the artifact root is kept relative to the project, as the store's own URI is, so a copied
store or a moved project still finds its artifacts.
"""

from ..lazy import lazy_exports

__getattr__, __all__ = lazy_exports(__name__, {
    "store": ("TrackingError", "WORKFLOW_TAG", "check_store", "init_tracking", "log_workflow_artifacts", "sqlite_path",),
    "runs": (
        "PENDING", "TrackedRun", "code_version", "epoch_metrics", "log_run", "log_run_or_leave_pending", "main",
        "split_results", "sync_pending",
    ),
})
