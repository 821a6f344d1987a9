"""Each config's experiment and workflow run in the store, and what a job logs with.

Each config logs to an experiment of its own (``tracking.experiment``, by default
``breaking-bert/<results name>``) under one workflow run (MLflow's parent run) per config and
project folder, tagged with both, so that two folders (or two configs given one experiment) logging
to one server keep their trees apart. The init job opens it for the config it runs with; a later
config in the same store has it opened by its first job that logs. Jobs that start at once open it
under a file lock next to the store's file; where the file system gives no lock (a shared file
system mounted without one), two jobs may both create one, and each job then takes the oldest and
deletes the others (a job that took a newer one in the same instant stays under a deleted run:
rare, and only without locks). Reruns find it again.
"""

from __future__ import annotations

import json
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from urllib.parse import urlparse
from urllib.request import url2pathname

from .store import TrackingError

WORKFLOW_TAG = "breaking_bert.workflow"
RESULTS_TAG = "breaking_bert.results_name"
PROJECT_TAG = "breaking_bert.project"
EXPERIMENT_PREFIX = "breaking-bert"
LOCK = "workflow_runs.lock"
LOG_EVERY_STEPS = 10  # the schema's tracking.log_every_steps (tests/test_config.py holds them equal)


def experiment_name(tracking_config: dict, results_name: str) -> str:
    """The config's MLflow experiment: ``tracking.experiment`` when set (configs that share one name
    share the experiment, each with its own workflow run), else one per config."""
    return tracking_config.get("experiment") or f"{EXPERIMENT_PREFIX}/{results_name}"


@contextmanager
def _locked(lock_path):
    """An exclusive lock on ``lock_path``; none where there is no such folder or the file system
    gives no lock (the oldest run is chosen then: _settle)."""
    import fcntl

    try:
        handle = open(lock_path, "a")
    except OSError:  # its folder is gone (a pending run synced after the project moved)
        yield
        return
    with handle:  # closing releases the lock
        try:
            fcntl.flock(handle, fcntl.LOCK_EX)
        except OSError:  # a file system without locks
            pass
        yield


def _experiment(client, name: str, artifact_location: str | None, create: bool) -> str | None:
    """The experiment's id, created when missing and ``create``; a deleted one stops with what to do."""
    from mlflow.exceptions import MlflowException

    found = client.get_experiment_by_name(name)
    if found is not None and found.lifecycle_stage != "active":
        raise TrackingError(
            f"the MLflow experiment {name!r} (id {found.experiment_id}) is in the store's trash: restore it "
            f"(mlflow experiments restore --experiment-id {found.experiment_id}), remove it for good "
            "(mlflow gc), or set tracking.experiment to another name")
    if found is not None or not create:
        return found.experiment_id if found is not None else None
    if artifact_location and artifact_location.startswith("file://"):
        Path(url2pathname(urlparse(artifact_location).path)).mkdir(parents=True, exist_ok=True)
    try:
        return client.create_experiment(name, artifact_location=artifact_location)
    except MlflowException:  # created by another job meanwhile
        return client.get_experiment_by_name(name).experiment_id


def _settle(client, experiment_id: str, tags: dict) -> str | None:
    """The oldest of the workflow runs tagged so (the others deleted: two jobs that could not lock
    may both have made one), or None."""
    # searched by the results name (letters, digits and _.+-: layout.NAME), the rest compared here:
    # a folder's path may hold quotes that the filter syntax cannot
    named = client.search_runs([experiment_id], filter_string=f"tags.`{RESULTS_TAG}` = '{tags[RESULTS_TAG]}'")
    runs = [run for run in named if all(run.data.tags.get(key) == value for key, value in tags.items())]
    runs = sorted(runs, key=lambda run: (run.info.start_time, run.info.run_id))
    for extra in runs[1:]:
        client.delete_run(extra.info.run_id)
    return runs[0].info.run_id if runs else None


def open_workflow_run(store: dict, experiment: str, results_name: str, project: str | None = None,
                      lock_path=None) -> dict:
    """The config's experiment and workflow run, found, or created under ``lock_path`` when missing;
    the store's dict with ``experiment_name``, ``experiment_id``, ``results_name`` and
    ``parent_run_id`` added. ``project``: the folder the config ran in (a tag of the run)."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=store["uri"])
    tags = {WORKFLOW_TAG: "true", RESULTS_TAG: results_name, **({PROJECT_TAG: project} if project else {})}
    experiment_id = _experiment(client, experiment, store.get("artifact_location"), create=False)
    parent = _settle(client, experiment_id, tags) if experiment_id is not None else None
    if parent is None:  # the config's first job here: the lock is taken for creating only
        with _locked(lock_path) if lock_path else nullcontext():
            experiment_id = _experiment(client, experiment, store.get("artifact_location"), create=True)
            if (parent := _settle(client, experiment_id, tags)) is None:
                run = client.create_run(experiment_id, run_name=f"{results_name} (workflow)", tags=tags)
                client.set_terminated(run.info.run_id, "FINISHED")
                parent = _settle(client, experiment_id, tags)
    return {**store, "experiment_name": experiment, "experiment_id": experiment_id, "results_name": results_name,
            "parent_run_id": parent}


def job_tracking(store_file, tracking_config: dict, results_name: str) -> dict:
    """What a job logs with: the store the init job migrated (its output, ``store_file``, under
    results/mlflow/ of the project), the config's names (its experiment and workflow run are opened
    on the job's first logging: ``resolved``) and the logging interval. Read from the running
    config, not the job's params or inputs: where a run is logged is no part of its result, and
    configs that share a run must not retrain it."""
    store_file = Path(store_file).resolve()
    store = json.loads(store_file.read_text())
    return {"uri": store["uri"], "artifact_location": store.get("artifact_location"),
            "experiment_name": experiment_name(tracking_config, results_name), "results_name": results_name,
            "project": str(store_file.parents[2]), "lock": str(store_file.with_name(LOCK)),
            "log_every_steps": tracking_config.get("log_every_steps", LOG_EVERY_STEPS)}


def resolved(tracking: dict) -> dict:
    """``tracking`` with its experiment and workflow run, opened when it has none yet."""
    if tracking.get("experiment_id"):
        return tracking
    return {**tracking, **open_workflow_run(tracking, tracking["experiment_name"], tracking["results_name"],
                                            tracking.get("project"), tracking.get("lock"))}


def init_tracking(uri: str, experiment: str, artifact_location: str | None = None, log_every_steps: int = LOG_EVERY_STEPS,
                  results_name: str | None = None, project: str | None = None) -> dict:
    """The store, an experiment and its workflow run at once, for a caller outside the workflow (the
    sync tool, benchmarks, tests); ``results_name`` names the workflow run (default: the experiment's)."""
    from .store import init_store

    store = init_store(uri, artifact_location)
    try:
        opened = open_workflow_run(store, experiment, results_name or experiment, project)
    except TrackingError:
        raise
    except Exception as error:
        raise TrackingError(f"tracking.uri={uri!r}: the experiment {experiment!r} cannot be opened "
                            f"({type(error).__name__}: {error})") from None
    return {**opened, "log_every_steps": log_every_steps}


def log_workflow_artifacts(tracking: dict, files: dict) -> dict:
    """The config's summaries as artifacts of its workflow run (``files`` maps each file to the
    artifact folder it goes in, "" for the top), the run's end set to now; the opened tracking."""
    import mlflow

    tracking = resolved(tracking)
    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    for path, folder in files.items():
        client.log_artifact(tracking["parent_run_id"], str(path), folder or None)
    client.set_terminated(tracking["parent_run_id"], "FINISHED", end_time=int(time.time() * 1000))
    return tracking
