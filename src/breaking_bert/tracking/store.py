"""The MLflow store, and each config's experiment and workflow run in it.

The store is checked before the first job (preflight) and migrated once, by the init_tracking job
(tracking/__init__.py says why). Each config logs to an experiment of its own (``tracking.experiment``,
by default ``breaking-bert/<results name>``), under one workflow run of its own (MLflow's parent run,
tagged with the results name): the init job opens it for the config it runs with; a later config in
the same store has it opened by its first job that logs. Jobs open it under a file lock, since they
start at once; reruns find it again, so a config's jobs form one tree however often it reruns.
"""

from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager, nullcontext
from pathlib import Path

# A down tracking server should cost a finished job seconds, not MLflow's default minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

WORKFLOW_TAG = "breaking_bert.workflow"
RESULTS_TAG = "breaking_bert.results_name"
EXPERIMENT_PREFIX = "breaking-bert"
LOCK = "workflow_runs.lock"
LOG_EVERY_STEPS = 10  # the schema's tracking.log_every_steps (tests/test_config.py holds them equal)


class TrackingError(RuntimeError):
    """The tracking store cannot be used; the message names tracking.uri, the path and what to do."""


def sqlite_path(uri: str) -> Path | None:
    """The file of a sqlite:/// store (relative to the working directory), else None."""
    return Path(uri[len("sqlite:///") :]) if uri.startswith("sqlite:///") else None


def check_store(uri: str) -> None:
    """A sqlite store must be a file that exists or can be created: the first existing folder on its
    path is a writable folder. Checked before the first job (preflight) and by the init job, since
    MLflow would otherwise retry for minutes and then fail naming neither the key nor the path.
    A server's store is checked by the init job, which asks it."""
    path = sqlite_path(uri)
    if path is None:
        return
    problem = None
    if path.exists() and not path.is_file():
        problem = "it exists and is not a file"
    else:
        ancestor = path.parent.absolute()
        while not ancestor.exists():
            ancestor = ancestor.parent
        if not ancestor.is_dir():
            problem = f"{ancestor} is a file, not a folder"
        elif not os.access(ancestor, os.W_OK | os.X_OK):
            problem = f"{ancestor} is not writable"
        elif path.exists() and not os.access(path, os.R_OK | os.W_OK):
            problem = "it is not readable and writable"
    if problem:
        raise TrackingError(
            f"tracking.uri={uri!r}: the store {path} cannot be opened ({problem}); "
            "point tracking.uri at a writable place or set tracking.enabled: false"
        )


def artifact_root(location: str | None) -> str | None:
    """A new experiment's artifact root as MLflow stores it: a local folder as an absolute file URI
    (resolved from the project's folder, where the jobs run), so that a client opened anywhere, or
    ``mlflow ui`` started from another folder, finds the artifacts; a URI (s3://, ...) as given."""
    if not location:
        return None
    if "://" in location or location.startswith("mlflow-artifacts:"):
        return location
    return Path(location).resolve().as_uri()


def init_store(uri: str, artifact_location: str | None = None) -> dict:
    """Check the store and migrate it (a fresh sqlite store is migrated on first use: once, here)."""
    check_store(uri)
    import mlflow

    if (path := sqlite_path(uri)) is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mlflow.MlflowClient(tracking_uri=uri).search_experiments(max_results=1)
    except Exception as error:
        raise TrackingError(
            f"tracking.uri={uri!r}: the store cannot be opened ({type(error).__name__}: {error}); point "
            "tracking.uri at a reachable store or set tracking.enabled: false"
        ) from None
    return {"uri": uri, "artifact_location": artifact_root(artifact_location)}


def experiment_name(tracking_config: dict, results_name: str) -> str:
    """The config's MLflow experiment: ``tracking.experiment`` when set (configs that share one name
    share the experiment, each with its own workflow run), else one per config."""
    return tracking_config.get("experiment") or f"{EXPERIMENT_PREFIX}/{results_name}"


@contextmanager
def _locked(lock_path):
    with open(lock_path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def open_workflow_run(store: dict, experiment: str, results_name: str, lock_path=None) -> dict:
    """The config's experiment and workflow run, created when missing and found again otherwise,
    under ``lock_path`` (jobs that start at once open one of each); the store's dict with
    ``experiment_name``, ``experiment_id``, ``results_name`` and ``parent_run_id`` added."""
    import mlflow

    with _locked(lock_path) if lock_path else nullcontext():
        client = mlflow.MlflowClient(tracking_uri=store["uri"])
        found = client.get_experiment_by_name(experiment)
        if found is not None:
            experiment_id = found.experiment_id
        else:
            location = store.get("artifact_location")
            if location and location.startswith("file://"):
                Path(location[len("file://") :]).mkdir(parents=True, exist_ok=True)
            experiment_id = client.create_experiment(experiment, artifact_location=location)
        tags = {WORKFLOW_TAG: "true", RESULTS_TAG: results_name}
        runs = client.search_runs([experiment_id], max_results=1,
                                  filter_string=" and ".join(f"tags.`{k}` = '{v}'" for k, v in tags.items()))
        if runs:
            parent_run_id = runs[0].info.run_id
        else:
            run = client.create_run(experiment_id, run_name=f"{results_name} (workflow)", tags=tags)
            client.set_terminated(run.info.run_id, "FINISHED")
            parent_run_id = run.info.run_id
    return {**store, "experiment_name": experiment, "experiment_id": experiment_id, "results_name": results_name,
            "parent_run_id": parent_run_id}


def job_tracking(store_file, tracking_config: dict, results_name: str) -> dict:
    """What a job logs with: the store the init job migrated (its output, ``store_file``), the
    config's experiment and workflow run (opened on the job's first logging, ``resolved``) and
    the logging interval. Read from the running config, not the job's params or inputs: where a
    run is logged is no part of its result, and configs that share a run must not retrain it."""
    store = json.loads(Path(store_file).read_text())
    return {**store, "experiment_name": experiment_name(tracking_config, results_name), "results_name": results_name,
            "log_every_steps": tracking_config.get("log_every_steps", LOG_EVERY_STEPS), "lock": str(Path(store_file).with_name(LOCK))}


def resolved(tracking: dict) -> dict:
    """``tracking`` with its experiment and workflow run, opened when it has none yet."""
    if tracking.get("experiment_id"):
        return tracking
    return {**tracking, **open_workflow_run(tracking, tracking["experiment_name"], tracking["results_name"],
                                            tracking.get("lock"))}


def init_tracking(uri: str, experiment: str, artifact_location: str | None = None, log_every_steps: int = LOG_EVERY_STEPS,
                  results_name: str | None = None) -> dict:
    """The store, an experiment and its workflow run at once, for a caller outside the workflow (the
    sync tool, benchmarks, tests); ``results_name`` names the workflow run (default: the experiment's)."""
    store = init_store(uri, artifact_location)
    try:
        opened = open_workflow_run(store, experiment, results_name or experiment)
    except Exception as error:
        raise TrackingError(f"tracking.uri={uri!r}: the experiment {experiment!r} cannot be opened "
                            f"({type(error).__name__}: {error})") from None
    return {**opened, "log_every_steps": log_every_steps}


def log_workflow_artifacts(tracking: dict, files: dict) -> None:
    """The config's summaries as artifacts of its workflow run: ``files`` maps each file to the
    artifact folder it goes in ("" for the top)."""
    import mlflow

    tracking = resolved(tracking)
    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    for path, folder in files.items():
        client.log_artifact(tracking["parent_run_id"], str(path), folder or None)
    return tracking
