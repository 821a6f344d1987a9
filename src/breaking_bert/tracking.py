"""MLflow tracking: one store and one experiment, created once; one MLflow run per finetune job.

Why the store is initialised by its own job: a fresh sqlite store migrates its schema on first
use, and eight jobs migrating it at once break it; ``set_experiment`` racing in eight jobs can file
runs under "Default". So ``init_tracking`` runs once before the jobs fan out and writes the
experiment id to a file; every job logs with ``start_run(experiment_id=...)``.

A job never fails because tracking failed: its ``metrics.json`` is the result. When logging
fails (e.g. the tracking server is down) the job leaves ``tracking_pending.json`` in its run
directory, and ``breaking-bert-sync-tracking results/`` logs every pending run afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

PENDING = "tracking_pending.json"

# A down tracking server should cost a finished job seconds, not MLflow's default minutes of retries.
os.environ.setdefault("MLFLOW_HTTP_REQUEST_MAX_RETRIES", "2")
os.environ.setdefault("MLFLOW_HTTP_REQUEST_TIMEOUT", "20")


def _flatten(prefix: str, value, out: dict) -> dict:
    if isinstance(value, dict):
        for key, inner in value.items():
            _flatten(f"{prefix}.{key}" if prefix else str(key), inner, out)
    elif isinstance(value, list | tuple):
        out[prefix] = json.dumps(value)
    else:
        out[prefix] = value
    return out


def init_tracking(uri: str, experiment_name: str, artifact_location: str | None = None) -> dict:
    """Create (or find) the experiment; running it once also migrates a fresh store."""
    import mlflow

    if uri.startswith("sqlite:///"):
        Path(uri[len("sqlite:///") :]).parent.mkdir(parents=True, exist_ok=True)
    mlflow.set_tracking_uri(uri)
    client = mlflow.MlflowClient()
    experiment = client.get_experiment_by_name(experiment_name)
    if experiment is None:
        if artifact_location:
            Path(artifact_location).mkdir(parents=True, exist_ok=True)
            artifact_location = Path(artifact_location).resolve().as_uri()
        experiment_id = client.create_experiment(experiment_name, artifact_location=artifact_location)
    else:
        experiment_id = experiment.experiment_id
    return {"uri": uri, "experiment_name": experiment_name, "experiment_id": experiment_id}


def log_run(tracking: dict, run_dir: str | Path, run_name: str, params: dict, metrics: dict) -> str:
    """One MLflow run with params, final and per-epoch metrics, and the run directory's files.

    Idempotent: a run whose ``run_key`` and ``fingerprint`` tags are already in the experiment is
    not logged twice; a rerun of the same cell with another identity (identity.py) is a new run.
    """
    import mlflow

    run_dir = Path(run_dir)
    client = mlflow.MlflowClient(tracking_uri=tracking["uri"])
    tags = {"run_key": run_name, "fingerprint": str(metrics.get("fingerprint"))}
    existing = client.search_runs(
        [tracking["experiment_id"]],
        filter_string=" and ".join(f"tags.{key} = '{value}'" for key, value in tags.items()),
        max_results=1,
    )
    if existing:
        return existing[0].info.run_id
    run = client.create_run(tracking["experiment_id"], run_name=run_name, tags=tags)
    run_id = run.info.run_id
    flat_params = {k: str(v)[:6000] for k, v in _flatten("", params, {}).items()}
    client.log_batch(run_id, params=[mlflow.entities.Param(k, v) for k, v in flat_params.items()])
    final = {k: float(v) for k, v in metrics.items() if isinstance(v, int | float) and not isinstance(v, bool)}
    entities = [mlflow.entities.Metric(k, v, 0, 0) for k, v in final.items()]
    for epoch in metrics.get("history", []):
        entities += [
            mlflow.entities.Metric(f"epoch_{k}", float(v), 0, int(epoch["epoch"]))
            for k, v in epoch.items()
            if k not in ("epoch", "step")
        ]
    client.log_batch(run_id, metrics=entities)
    for file in sorted(run_dir.glob("*")):
        if file.is_file() and file.name != PENDING and not file.name.startswith("."):
            client.log_artifact(run_id, str(file))
    client.set_terminated(run_id)
    return run_id


def log_run_or_leave_pending(tracking: dict, run_dir, run_name: str, params: dict, metrics: dict) -> bool:
    """Log the run; on any failure leave a pending marker and return False (the job still succeeds)."""
    pending = Path(run_dir) / PENDING
    payload = {"tracking": tracking, "run_name": run_name, "params": params}
    try:
        log_run(tracking, run_dir, run_name, params, metrics)
    except Exception as error:  # tracking must never lose a finished result
        print(f"MLflow logging failed ({error}); left {pending} for breaking-bert-sync-tracking", file=sys.stderr)
        pending.write_text(json.dumps({**payload, "error": str(error)}, default=str))
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
        if log_run_or_leave_pending(tracking, marker.parent, payload["run_name"], payload["params"], metrics):
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
