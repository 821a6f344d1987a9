"""The MLflow store: checked before the first job (preflight) and migrated once, by the
init_tracking job (tracking/__init__.py says why); its artifact root."""

from __future__ import annotations

import os
from pathlib import Path

# A down tracking server should cost a finished job seconds, not MLflow's default minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

# a sqlite store's artifact root when tracking.artifact_location is unset (a server keeps its own)
SQLITE_ARTIFACTS = "results/mlflow/artifacts"


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
    (resolved from the project's folder, where the jobs run), so that a client or ``mlflow ui``
    started from any folder of this file system finds the artifacts; a URI (s3://, ...) as given."""
    if not location:
        return None
    if "://" in location or location.startswith("mlflow-artifacts:"):
        return location
    return Path(location).resolve().as_uri()


def workflow_artifact_location(uri: str, configured: str | None) -> str | None:
    """The workflow's artifact root for new experiments: tracking.artifact_location; unset,
    SQLITE_ARTIFACTS for a sqlite store and the server's own root (its artifact proxy, which every
    client reaches) for a server."""
    if configured is None and sqlite_path(uri) is not None:
        return SQLITE_ARTIFACTS
    return configured


def init_store(uri: str, artifact_location: str | None = None) -> dict:
    """Check the store and migrate it (a fresh sqlite store is migrated on first use: once, here);
    ``artifact_location``: its new experiments' artifact root (None: MLflow's default)."""
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
