"""MLflow tracking: one store and one experiment, created once; one MLflow run per job attempt,
opened when the job starts and closed when it ends.

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

What a run holds: every resolved config value as a param; the metrics (step metrics every
``log_every_steps`` optimizer steps, eval metrics per epoch, the final measurements) with their
wall-clock timestamps and step numbers; tags for the cell (``run_key``), the run's fingerprint and
the code version (git commit, dirty flag); the run directory's files as artifacts. In a sqlite
store the artifact root is kept relative to the project, as the store's own URI is, so a copied
store or a moved project still finds its artifacts.
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

PENDING = "tracking_pending.json"

# A down tracking server should cost a finished job seconds, not MLflow's default minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")

# Numbers in metrics.json that describe a run rather than measure it: params, not metrics.
SETTINGS = ("seed", "num_layers", "train_examples", "eval_examples", "resumed")


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


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list | tuple):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value
    return out


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
    except Exception as error:
        raise TrackingError(
            f"tracking.uri={uri!r}: the store cannot be opened ({type(error).__name__}: {error}); point "
            "tracking.uri at a reachable store or set tracking.enabled: false"
        ) from None
    return {"uri": uri, "experiment_name": experiment_name, "experiment_id": experiment_id,
            "log_every_steps": log_every_steps}


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


def code_version() -> dict:
    """The git commit of the checkout whose library runs, and whether it has uncommitted changes."""
    checkout = Path(__file__).resolve().parents[2]
    try:
        commit = subprocess.run(["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True,
                                timeout=10, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(checkout), "status", "--porcelain", "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10, check=True).stdout.strip() != ""
    except (OSError, subprocess.SubprocessError):
        return {"git_commit": "none (not a git checkout)", "git_dirty": "unknown"}
    return {"git_commit": commit, "mlflow.source.git.commit": commit, "git_dirty": str(dirty).lower()}


def split_results(metrics: dict) -> tuple[dict, dict]:
    """metrics.json as (params, metrics): measurements are metrics, what describes the run a param."""
    # the history is logged epoch by epoch; the per-example predictions are in metrics.json, an artifact
    flat = _flatten("", {k: v for k, v in metrics.items() if k not in ("history", "identity", "eval_predictions", "eval_labels")}, {})
    measured = {k: float(v) for k, v in flat.items()
                if isinstance(v, int | float) and not isinstance(v, bool) and k not in SETTINGS and v == v}
    described = {f"result.{k}": str(v)[:6000] for k, v in flat.items() if k not in measured}
    return described, measured


def epoch_metrics(entry: dict) -> dict:
    """One evaluation of metrics.json's history as the run's metrics: eval_<name> and the epoch."""
    return {**{f"eval_{k}": v for k, v in entry.items() if k not in ("epoch", "step")}, "epoch": entry["epoch"]}


def _now_ms() -> int:
    return int(time.time() * 1000)


class TrackedRun:
    """One job attempt's MLflow run. Opened when the job starts; step and epoch metrics as they come;
    closed when the job ends (FINISHED, or FAILED / KILLED when it stops). No method raises: the
    first tracking error is kept, logging stops, and ``finish`` leaves the pending marker."""

    def __init__(self, tracking: dict, run_dir, run_name: str, params: dict, started_ms: int | None = None,
                 logged_later: bool = False):
        self.tracking, self.run_dir, self.run_name, self.params = tracking, Path(run_dir), run_name, params
        self.log_every_steps = int(tracking.get("log_every_steps", 10))
        self.started_ms = started_ms or _now_ms()
        self.client = self.run_id = self.error = None
        self._attempt(self._open, {"logged_later": "true"} if logged_later else {})

    def _attempt(self, action, *args) -> None:
        if self.error is not None:
            return
        try:
            action(*args)
        except Exception as error:  # tracking must never lose a result
            self.error = error
            print(f"MLflow logging failed ({error}); the job goes on without it", file=sys.stderr)

    def _open(self, tags: dict) -> None:
        import mlflow

        self.client = mlflow.MlflowClient(tracking_uri=self.tracking["uri"])
        run = self.client.create_run(self.tracking["experiment_id"], start_time=self.started_ms, run_name=self.run_name,
                                     tags={"run_key": self.run_name, **code_version(), **tags})
        self.run_id = run.info.run_id
        params = {k: str(v)[:6000] for k, v in _flatten("", self.params, {}).items()}
        self.client.log_batch(self.run_id, params=[mlflow.entities.Param(k, v) for k, v in params.items()])

    def log_metrics(self, step: int, values: dict) -> None:
        """Metrics at an optimizer step, stamped now (the loop calls this)."""
        self._attempt(self._log_metrics, step, values, _now_ms())

    def log_epoch(self, entry: dict) -> None:
        """An evaluation as the loop records it in the history ({"epoch", "step", metrics...})."""
        self.log_metrics(entry["step"], epoch_metrics(entry))

    def _log_metrics(self, step: int, values: dict, timestamp: int) -> None:
        from mlflow.entities import Metric

        entities = [Metric(k, float(v), timestamp, int(step)) for k, v in values.items() if isinstance(v, int | float)]
        self.client.log_batch(self.run_id, metrics=entities)

    def finish(self, metrics: dict) -> bool:
        """Final measurements, results as params, the fingerprint, the files; or the pending marker."""
        self._attempt(self._finish, metrics, _now_ms())
        if self.error is None:
            (self.run_dir / PENDING).unlink(missing_ok=True)
            return True
        payload = {"tracking": self.tracking, "run_name": self.run_name, "params": self.params,
                   "started_ms": self.started_ms, "ended_ms": _now_ms(), "error": str(self.error)}
        (self.run_dir / PENDING).write_text(json.dumps(payload, default=str))
        print(f"left {self.run_dir / PENDING} for breaking-bert-sync-tracking", file=sys.stderr)
        return False

    def _finish(self, metrics: dict, ended_ms: int) -> None:
        import mlflow

        described, measured = split_results(metrics)
        self.client.log_batch(self.run_id, params=[mlflow.entities.Param(k, v) for k, v in described.items()])
        last_step = metrics["history"][-1]["step"] if metrics.get("history") else 0
        self._log_metrics(last_step, measured, ended_ms)
        self.client.set_tag(self.run_id, "fingerprint", str(metrics.get("fingerprint")))
        for file in sorted(self.run_dir.glob("*")):
            if file.is_file() and file.name != PENDING and not file.name.startswith("."):
                self.client.log_artifact(self.run_id, str(file))
        self.client.set_terminated(self.run_id, "FINISHED", end_time=ended_ms)

    def stop(self, status: str) -> None:
        """The job ends without a result (FAILED) or is preempted (KILLED): close the run so."""
        if self.run_id is not None:
            self._attempt(self.client.set_terminated, self.run_id, status, _now_ms())


def log_run(tracking: dict, run_dir: str | Path, run_name: str, params: dict, metrics: dict,
            started_ms: int | None = None, ended_ms: int | None = None) -> str:
    """One finished run logged after the fact (a pending marker's), with the job's own start and end
    times. Idempotent: a run whose ``run_key`` and ``fingerprint`` tags are already in the experiment
    as FINISHED is not logged twice."""
    import mlflow

    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    tags = {"run_key": run_name, "fingerprint": str(metrics.get("fingerprint"))}
    existing = client.search_runs(
        [tracking["experiment_id"]],
        filter_string=" and ".join(f"tags.{key} = '{value}'" for key, value in tags.items())
        + " and attributes.status = 'FINISHED'",
        max_results=1,
    )
    if existing:
        return existing[0].info.run_id
    ended_ms = ended_ms or _now_ms()
    run = TrackedRun(tracking, run_dir, run_name, params, started_ms=started_ms or ended_ms, logged_later=True)
    if run.error is not None:
        raise run.error
    for entry in metrics.get("history", []):  # the epochs' own times are not kept: stamped at the job's end
        run._log_metrics(entry["step"], epoch_metrics(entry), ended_ms)
    run._finish(metrics, ended_ms)
    return run.run_id


def log_run_or_leave_pending(tracking: dict, run_dir, run_name: str, params: dict, metrics: dict,
                             started_ms: int | None = None, ended_ms: int | None = None) -> bool:
    """Log a finished run after the fact; on any failure leave the pending marker and return False."""
    pending = Path(run_dir) / PENDING
    try:
        log_run(tracking, run_dir, run_name, params, metrics, started_ms, ended_ms)
    except Exception as error:  # tracking must never lose a finished result
        print(f"MLflow logging failed ({error}); left {pending} for breaking-bert-sync-tracking", file=sys.stderr)
        pending.write_text(json.dumps({"tracking": tracking, "run_name": run_name, "params": params,
                                       "started_ms": started_ms, "ended_ms": ended_ms, "error": str(error)},
                                      default=str))
        return False
    pending.unlink(missing_ok=True)
    return True


def sync_pending(results_dir: str | Path, uri: str | None = None) -> tuple[int, int]:
    """Log every run that left a pending marker; returns (logged, still pending)."""
    logged = failed = 0
    for marker in sorted(Path(results_dir).rglob(PENDING)):
        payload = json.loads(marker.read_text())
        tracking = dict(payload["tracking"])
        if uri:
            tracking = init_tracking(uri, tracking["experiment_name"])
        metrics = json.loads((marker.parent / "metrics.json").read_text())
        if log_run_or_leave_pending(tracking, marker.parent, payload["run_name"], payload["params"], metrics,
                                    payload.get("started_ms"), payload.get("ended_ms")):
            logged += 1
        else:
            failed += 1
    return logged, failed


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Log finetune runs whose MLflow logging failed.")
    parser.add_argument("results_dir", nargs="?", default="results")
    parser.add_argument("--tracking-uri", help="log to this store instead of the one each run recorded")
    args = parser.parse_args(argv)
    logged, failed = sync_pending(args.results_dir, args.tracking_uri)
    print(f"logged {logged} pending run(s); {failed} still pending")
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
