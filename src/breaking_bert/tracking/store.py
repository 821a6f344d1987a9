"""The MLflow store: checked before the first job, and its experiment created once (the
init_tracking job), so that jobs never migrate a fresh store at once (tracking/__init__.py says why)."""

from __future__ import annotations

import os
import sqlite3
from pathlib import Path

# A down tracking server should cost a finished job seconds, not MLflow's default minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


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


def init_tracking(uri: str, experiment_name: str, artifact_location: str | None = None,
                  log_every_steps: int = 10) -> dict:
    """Create (or find) the experiment; running it once also migrates a fresh store."""
    check_store(uri)
    import mlflow

    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    try:
        client = mlflow.MlflowClient(tracking_uri=uri)
        experiment = client.get_experiment_by_name(experiment_name)
        if experiment is None:
            if artifact_location:
                Path(artifact_location).mkdir(parents=True, exist_ok=True)
            experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
            _keep_artifact_root_relative(uri, experiment_id, artifact_location)
        else:
            experiment_id = experiment.experiment_id
        parent_run_id = _workflow_run(client, experiment_id, experiment_name)
    except Exception as error:
        raise TrackingError(
            f"tracking.uri={uri!r}: the store cannot be opened ({type(error).__name__}: {error}); point "
            "tracking.uri at a reachable store or set tracking.enabled: false"
        ) from None
    return {"uri": uri, "experiment_name": experiment_name, "experiment_id": experiment_id,
            "parent_run_id": parent_run_id, "log_every_steps": log_every_steps}


WORKFLOW_TAG = "breaking_bert.workflow"


def _workflow_run(client, experiment_id: str, experiment_name: str) -> str:
    """The run every job's run nests under (MLflow's mlflow.parentRunId tag): one per experiment
    and store, found again when the init job reruns, so that reruns add children to one tree."""
    found = client.search_runs([experiment_id], filter_string=f"tags.`{WORKFLOW_TAG}` = 'true'", max_results=1)
    if found:
        return found[0].info.run_id
    run = client.create_run(experiment_id, run_name=f"{experiment_name} (workflow)", tags={WORKFLOW_TAG: "true"})
    client.set_terminated(run.info.run_id, "FINISHED")
    return run.info.run_id


def _keep_artifact_root_relative(uri: str, experiment_id: str, artifact_location: str | None) -> None:
    """MLflow stores a local artifact root as an absolute path, which breaks when the project moves;
    a relative root in a relative sqlite store is written back as given (both resolve from the
    project's folder, where jobs and ``mlflow ui`` run)."""
    path = sqlite_path(uri)
    if path is None or path.is_absolute() or not artifact_location or Path(artifact_location).is_absolute():
        return
    with sqlite3.connect(path) as connection:
        connection.execute("UPDATE experiments SET artifact_location = ? WHERE experiment_id = ?",
                           (Path(artifact_location).as_posix(), int(experiment_id)))


def log_workflow_artifacts(tracking: dict, paths, folder: str = "") -> bool:
    """The findings report and tables (``paths``) as artifacts of the workflow's run, under
    ``folder``; a failure is printed, never raised (tracking never fails a job). False when the
    store has no workflow run or the logging failed."""
    import sys

    if not tracking.get("parent_run_id"):
        return False
    try:
        import mlflow

        client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
        for path in paths:
            client.log_artifact(tracking["parent_run_id"], str(path), folder or None)
        return True
    except Exception as error:
        print(f"MLflow: the workflow run's artifacts were not logged ({error})", file=sys.stderr)
        return False
